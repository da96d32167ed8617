/**
 * The Node objects the kubelets of a k3s cluster register and keep up to date, made from the k3s server double's
 * supervisor state (GET /state: scripts/sim/doubles/k3s). What a real k3s node carries that the program and Karmada
 * read, each from where it comes (kubernetes/kubernetes v1.31, k3s-io/k3s v1.31; functions named, as their line
 * numbers move between releases):
 *
 * - labels: kubelet_node_status.go initialNode(): kubernetes.io/hostname (the node name: k3s passes
 *   --hostname-override=<node-name>), kubernetes.io/os, kubernetes.io/arch and their beta.kubernetes.io/ twins;
 *   k3s's cloud provider (pkg/cloudprovider/instances.go InstanceType) node.kubernetes.io/instance-type=k3s and its
 *   beta twin; the server's node-role.kubernetes.io/control-plane=true and node-role.kubernetes.io/master=true
 *   (pkg/server/server.go setNodeLabelsAndAnnotations); then the config's node-label entries (k3s passes them to
 *   the kubelet's --node-labels, which wins over the defaults).
 * - status.addresses: InternalIP = node-ip (k3s's cloud provider NodeAddresses), Hostname = the node name.
 * - the Ready condition: True "KubeletReady" "kubelet is posting ready status" while the kubelet heartbeats
 *   (pkg/kubelet/nodestatus/setters.go ReadyCondition); when it stops, the node lifecycle controller writes Unknown
 *   "NodeStatusUnknown" "Kubelet stopped posting node status." (pkg/controller/nodelifecycle
 *   node_lifecycle_controller.go tryUpdateNodeHealth) and taints the node node.kubernetes.io/unreachable (NoSchedule
 *   and NoExecute: doNoExecuteTaintingPass, TaintNodesByCondition). `kubectl get nodes` shows both as NotReady.
 */

/** One node as the supervisor (the k3s server double's join API) keeps it. */
export interface SupervisorNode {
  role: "server" | "agent";
  /** The config's node-label entries, "key=value". */
  labels: string[];
  /** The config's node-ip; null when unset. */
  ip: string | null;
  index: number;
  /** Heartbeating (the server: always). */
  ready: boolean;
  /** GOARCH of the node's host (amd64, arm64); absent from older supervisors. */
  arch?: string;
  /** The runtime handlers containerd has besides runc (e.g. ["nvidia"]); absent from older supervisors. */
  runtimes?: string[];
  /** When the node's agent last asked for its config (its kubelet started); absent from older supervisors. */
  joined?: number;
}

export interface SupervisorState {
  nodes: Record<string, SupervisorNode>;
}

/** The labels k3s's kubelet, cloud provider and server put on a node, then its node-label entries. */
export function nodeLabels(name: string, n: SupervisorNode): Record<string, string> {
  const labels: Record<string, string> = {
    "kubernetes.io/hostname": name,
    "kubernetes.io/os": "linux",
    "beta.kubernetes.io/os": "linux",
    "node.kubernetes.io/instance-type": "k3s",
    "beta.kubernetes.io/instance-type": "k3s",
  };
  if (n.arch !== undefined) {
    labels["kubernetes.io/arch"] = n.arch;
    labels["beta.kubernetes.io/arch"] = n.arch;
  }
  if (n.role === "server") {
    labels["node-role.kubernetes.io/control-plane"] = "true";
    labels["node-role.kubernetes.io/master"] = "true";
  }
  for (const entry of n.labels) {
    const i = entry.indexOf("=");
    if (i > 0) labels[entry.slice(0, i)] = entry.slice(i + 1);
  }
  return labels;
}

const time = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");

export interface NodeCondition {
  type: string;
  status: "True" | "False" | "Unknown";
  reason: string;
  message: string;
  lastHeartbeatTime: string;
  lastTransitionTime: string;
}

/** The Ready condition for a heartbeating node, or the one the node lifecycle controller writes when it stops. */
export function readyCondition(ready: boolean, now: number, previous?: NodeCondition): NodeCondition {
  const status = ready ? "True" : "Unknown";
  return {
    type: "Ready",
    status,
    reason: ready ? "KubeletReady" : "NodeStatusUnknown",
    message: ready ? "kubelet is posting ready status" : "Kubelet stopped posting node status.",
    lastHeartbeatTime: ready ? time(now) : (previous?.lastHeartbeatTime ?? time(now)),
    lastTransitionTime: previous?.status === status ? previous.lastTransitionTime : time(now),
  };
}

/** The taints of a node whose kubelet stopped posting (node.kubernetes.io/unreachable). */
export function unreachableTaints(now: number): object[] {
  return [
    { key: "node.kubernetes.io/unreachable", effect: "NoSchedule", timeAdded: time(now) },
    { key: "node.kubernetes.io/unreachable", effect: "NoExecute", timeAdded: time(now) },
  ];
}

/** The Node a kubelet registers (registerWithAPIServer): metadata and spec; the status is written apart. */
export function nodeObject(name: string, n: SupervisorNode): object {
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name,
      labels: nodeLabels(name, n),
      annotations: {
        "node.alpha.kubernetes.io/ttl": "0",
        "volumes.kubernetes.io/controller-managed-attach-detach": "true",
        ...(n.ip === null ? {} : { "k3s.io/internal-ip": n.ip }),
      },
    },
    // k3s's cloud provider (pkg/cloudprovider/instances.go InstanceID): k3s://<node name>.
    spec: { providerID: `k3s://${name}` },
  };
}

/** The node status the kubelet posts (only what the program and Karmada read: conditions, addresses). */
export function nodeStatus(name: string, n: SupervisorNode, ready: NodeCondition): object {
  return {
    conditions: [ready],
    addresses: [...(n.ip === null ? [] : [{ type: "InternalIP", address: n.ip }]), { type: "Hostname", address: name }],
    nodeInfo: {
      architecture: n.arch ?? "",
      operatingSystem: "linux",
      containerRuntimeVersion: "containerd://",
      kubeletVersion: "",
      kubeProxyVersion: "",
      bootID: "",
      kernelVersion: "",
      machineID: "",
      osImage: "",
      systemUUID: "",
    },
  };
}
