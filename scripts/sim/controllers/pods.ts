/**
 * The Pod objects of the model's pods (deploymentStatus.ts), so that what lists pods by label (a probe reading
 * status.podIP, `kubectl get pods`) finds them: created by the ReplicaSet controller from the template with the
 * pod-template-hash label (replica_set.go manageReplicas, controller_utils.go GetPodFromTemplate), bound by the
 * scheduler (the pods/binding subresource), their status written by the kubelet (pkg/kubelet/status
 * status_manager.go: phase, the PodScheduled/Initialized/ContainersReady/Ready conditions, hostIP, podIP), deleted
 * gracefully by the ReplicaSet controller and finally (gracePeriodSeconds 0) by the kubelet once the containers
 * ended. No ReplicaSet object is stored, so the pods carry no ownerReferences.
 */
import type { DeploymentModel, SimPod } from "./deploymentStatus";

/* eslint-disable @typescript-eslint/no-explicit-any -- API objects are arbitrary JSON */

export const POD_TEMPLATE_HASH_LABEL = "pod-template-hash";

const time = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");

/** The Pod the ReplicaSet controller creates from the template (unbound: the scheduler binds it). */
export function podObject(d: any, m: DeploymentModel, p: SimPod): any {
  const template = m.templates.get(p.hash) ?? d.spec.template;
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: p.name,
      namespace: d.metadata.namespace,
      labels: { ...(template.metadata?.labels ?? {}), [POD_TEMPLATE_HASH_LABEL]: p.hash },
      ...(template.metadata?.annotations === undefined ? {} : { annotations: template.metadata.annotations }),
    },
    spec: template.spec,
  };
}

/**
 * A pod's IP: flannel gives node number `index` the /24 <cidr's first two octets>.<index>.0 (the k3s double's
 * subnet()), and the pod an address in it.
 */
export function podIP(index: number, name: string, clusterCidr = "10.42.0.0/16"): string {
  const [a, b] = clusterCidr.split("/")[0].split(".");
  let h = 0;
  for (const c of name) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return `${a}.${b}.${index}.${2 + (h % 250)}`;
}

/** The status the kubelet posts for a pod it runs, or the scheduler's Unschedulable for one it cannot place. */
export function podStatus(p: SimPod, hostIP: string | undefined, ip: string | undefined, since: number): any {
  const t = time(since);
  const c = (type: string, ok: boolean, reason?: string, message?: string) => ({
    type,
    status: ok ? "True" : "False",
    lastProbeTime: null,
    lastTransitionTime: t,
    ...(reason === undefined ? {} : { reason }),
    ...(message === undefined ? {} : { message }),
  });
  if (p.node === undefined)
    return {
      phase: "Pending",
      conditions: [c("PodScheduled", false, "Unschedulable", p.waiting)],
    };
  const running = p.phase === "Running";
  return {
    phase: "Pending" === p.phase ? "Pending" : "Running",
    conditions: [
      c("PodScheduled", true),
      c("Initialized", running),
      c("ContainersReady", p.ready, p.ready ? undefined : "ContainersNotReady"),
      c("Ready", p.ready, p.ready ? undefined : "ContainersNotReady"),
    ],
    ...(hostIP === undefined ? {} : { hostIP, hostIPs: [{ ip: hostIP }] }),
    ...(running && ip !== undefined ? { podIP: ip, podIPs: [{ ip }] } : {}),
    startTime: t,
  };
}

/** What differs between the status the kubelet would post and the one stored: phase, readiness, addresses. */
export function podStatusChanged(stored: any, want: any): boolean {
  const ready = (s: any) => s?.conditions?.find((c: any) => c.type === "Ready")?.status;
  const scheduled = (s: any) => s?.conditions?.find((c: any) => c.type === "PodScheduled")?.message;
  return (
    stored?.phase !== want.phase ||
    ready(stored) !== ready(want) ||
    stored?.podIP !== want.podIP ||
    stored?.hostIP !== want.hostIP ||
    scheduled(stored) !== scheduled(want)
  );
}
