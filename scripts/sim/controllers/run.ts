/**
 * The cluster controllers double: what kube-controller-manager, the scheduler and the kubelets of a k3s cluster do
 * that the program and Karmada read, against the sim's bare kube-apiserver (which stores objects and does nothing
 * else). The k3s server double spawns it (`testbed sim cluster-controllers --kubeconfig F --supervisor URL`) and
 * kills it with the server. Each part cites what it copies in its own module:
 *
 * - RuntimeClasses: k3s's deploy controller applies manifests/runtimes.yaml (k3s-io/k3s) at start: nvidia,
 *   nvidia-experimental, crun, lunatic, slight, spin, wws, wasmedge, wasmer, wasmtime, each handler = its name.
 * - Nodes (nodes.ts) from the supervisor's /state.
 * - Token Secrets (tokens.ts).
 * - Deployments (deploymentStatus.ts): their status, one step of the controller chain per tick; their Pods
 *   (pods.ts).
 * - In every namespace, the ServiceAccount `default` (pkg/controller/serviceaccount/serviceaccounts_controller.go
 *   syncNamespace: the ServiceAccount admission plugin refuses a pod whose ServiceAccount does not exist) and the
 *   ConfigMap kube-root-ca.crt (pkg/controller/certificates/rootcacertpublisher/publisher.go syncNamespace).
 *
 * It polls (every TICK_MS) rather than watches: a poll is a handful of small LISTs on a cluster of three nodes, and
 * it survives the API going away (a VM reboot) with nothing to re-establish. Connection failures are retried with
 * a doubling backoff up to MAX_BACKOFF_MS, forever. One log line per action on stdout. SIGTERM ends it at once
 * (Node's default: no handler).
 */
import { type ApiAnswer, kubeClient, kubeTarget } from "../../lib/kubeClient";
import { runDeletionControllers } from "../deletion";
import { type ClusterView, type DeploymentModel, type NodeView, adopt, emptyModel, step } from "./deploymentStatus";
import {
  type NodeCondition,
  type SupervisorState,
  nodeObject,
  nodeStatus,
  readyCondition,
  unreachableTaints,
} from "./nodes";
import { POD_TEMPLATE_HASH_LABEL, podIP, podObject, podStatus, podStatusChanged } from "./pods";
import { TOKEN_SECRET_TYPE, filledSecret, tokenDecision, tokenRequest } from "./tokens";

/** Time between two polls, and so between two steps of a rollout: short, visible, never instant. */
export const TICK_MS = 500;
/** Longest wait between two attempts to reach an API that does not answer. */
export const MAX_BACKOFF_MS = 10_000;
/** Bound on one API request; the API answers in milliseconds when it is up. */
const REQUEST_TIMEOUT_MS = 5_000;
/** Bound on one read of the supervisor's /state (a local HTTP server). */
const SUPERVISOR_TIMEOUT_MS = 3_000;
/** The kubelet re-posts an unchanged node status this often (nodeStatusReportFrequency's default, 5 min). */
const NODE_STATUS_REPORT_MS = 5 * 60_000;

/** k3s-io/k3s manifests/runtimes.yaml: every RuntimeClass k3s creates, each handler named as the class. */
export const K3S_RUNTIME_CLASSES = [
  "nvidia",
  "nvidia-experimental",
  "crun",
  "lunatic",
  "slight",
  "spin",
  "wws",
  "wasmedge",
  "wasmer",
  "wasmtime",
];

/** publisher.go: the description the root CA ConfigMap carries. */
const ROOT_CA_DESCRIPTION =
  "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the " +
  "internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes " +
  "clusters.";

/* eslint-disable @typescript-eslint/no-explicit-any -- API objects are arbitrary JSON */

/** A connection that failed: the API is not up (retried with backoff). */
class Unreachable extends Error {}

export interface ControllerOptions {
  /** The admin kubeconfig's text (a secret: never logged). */
  kubeconfig: string;
  /** The supervisor's base URL, e.g. http://127.0.0.1:9345. */
  supervisor: string;
  log?: (line: string) => void;
  tickMs?: number;
  /** Stops the loop (tests); the CLI never stops it but by SIGTERM. */
  signal?: AbortSignal;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(t);
      resolve();
    });
  });

const stamp = () => new Date().toISOString().replace(/\.\d{3}Z$/, "Z");

export async function runControllers(opts: ControllerOptions): Promise<void> {
  const target = kubeTarget(opts.kubeconfig, "--kubeconfig");
  const rootCA = target.ca ?? "";
  // One client (kubeClient's request layer) for these controllers and the deletion controllers below.
  const client = kubeClient(target, REQUEST_TIMEOUT_MS);
  const out = opts.log ?? ((line: string) => process.stdout.write(`${line}\n`));
  const log = (line: string) => out(`${stamp()} ${line}`);
  const tickMs = opts.tickMs ?? TICK_MS;

  const req = async (method: string, path: string, body?: unknown, contentType?: string): Promise<ApiAnswer> => {
    try {
      return await client.send(method, path, body, contentType);
    } catch (err) {
      // ApiUnreachable: no answer at all (a reboot); retried with backoff.
      throw new Unreachable((err as Error).message);
    }
  };
  /** A DELETE with DeleteOptions in its body (a uid precondition, a grace period). */
  const deleteWith = (path: string, options: object): Promise<ApiAnswer> =>
    req("DELETE", path, { apiVersion: "v1", kind: "DeleteOptions", ...options });
  const ok = (r: ApiAnswer, what: string): any => {
    if (r.status >= 200 && r.status < 300) return r.json;
    throw new Error(`${what}: HTTP ${r.status}: ${(r.json as any)?.message ?? r.text.slice(0, 200)}`);
  };

  // Controller state kept across ticks.
  const models = new Map<string, DeploymentModel>();
  const registered = new Set<string>(); // name@joined of each kubelet registration made
  let lastState: SupervisorState | undefined;
  let supervisorDown = false;
  let runtimeClassesDone = false;
  const nodeReported = new Map<string, number>();

  const readSupervisor = async (): Promise<SupervisorState | undefined> => {
    try {
      const r = await fetch(`${opts.supervisor}/state`, { signal: AbortSignal.timeout(SUPERVISOR_TIMEOUT_MS) });
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      const s = (await r.json()) as SupervisorState;
      if (supervisorDown) log(`supervisor ${opts.supervisor} answers again`);
      supervisorDown = false;
      return s;
    } catch (err) {
      if (!supervisorDown)
        log(`supervisor ${opts.supervisor} does not answer (${(err as Error).message}): nodes kept as they are`);
      supervisorDown = true;
      return undefined;
    }
  };

  const ensureRuntimeClasses = async () => {
    for (const name of K3S_RUNTIME_CLASSES) {
      const r = await req("POST", "/apis/node.k8s.io/v1/runtimeclasses", {
        apiVersion: "node.k8s.io/v1",
        kind: "RuntimeClass",
        metadata: { name },
        handler: name,
      });
      if (r.status === 201) log(`runtimeclass ${name} created`);
      else if (r.status !== 409) ok(r, `runtimeclass ${name}`);
    }
    runtimeClassesDone = true;
  };

  const syncNodes = async (state: SupervisorState, apiNodes: Map<string, any>) => {
    const now = Date.now();
    for (const [name, n] of Object.entries(state.nodes)) {
      const key = `${name}@${n.joined ?? ""}`;
      let node = apiNodes.get(name);
      if (node === undefined) {
        // kubelet_node_status.go registerWithAPIServer runs until it succeeds once, then never again in that
        // kubelet's life: a Node deleted through the API comes back only when the agent restarts (a new join).
        if (registered.has(key)) continue;
        const r = await req("POST", "/api/v1/nodes", nodeObject(name, n));
        if (r.status !== 201 && r.status !== 409) ok(r, `node ${name}`);
        registered.add(key);
        if (r.status === 409) continue;
        node = r.json;
        log(`node ${name} registered`);
      }
      registered.add(key);
      const prev: NodeCondition | undefined = (node.status?.conditions ?? []).find((c: any) => c.type === "Ready");
      const cond = readyCondition(n.ready, now, prev);
      const due = now - (nodeReported.get(name) ?? 0) >= NODE_STATUS_REPORT_MS && n.ready;
      if (prev?.status !== cond.status || due) {
        const r = await req("PUT", `/api/v1/nodes/${encodeURIComponent(name)}/status`, {
          ...node,
          status: { ...node.status, ...nodeStatus(name, n, cond) },
        });
        if (r.status === 409 || r.status === 404) continue; // changed meanwhile: next tick
        node = ok(r, `status of node ${name}`);
        nodeReported.set(name, now);
        if (prev?.status !== cond.status)
          log(`node ${name} ${cond.status === "True" ? "Ready" : `NotReady (Ready=${cond.status}: ${cond.message})`}`);
        // The node lifecycle controller's unreachable taints, off again once the node posts Ready.
        const others = (node.spec?.taints ?? []).filter((t: any) => t.key !== "node.kubernetes.io/unreachable");
        const taints = cond.status === "True" ? others : [...others, ...unreachableTaints(now)];
        const p = await req(
          "PATCH",
          `/api/v1/nodes/${encodeURIComponent(name)}`,
          { spec: { taints: taints.length === 0 ? null : taints } },
          "application/merge-patch+json",
        );
        if (p.status !== 404) ok(p, `taints of node ${name}`);
      }
    }
    // The double's delete-node (`k3s kubectl delete node`) removes a node from the supervisor: delete its Node.
    for (const name of Object.keys(lastState?.nodes ?? {})) {
      if (name in state.nodes || !apiNodes.has(name)) continue;
      const r = await req("DELETE", `/api/v1/nodes/${encodeURIComponent(name)}`);
      if (r.status !== 404) ok(r, `delete node ${name}`);
      log(`node ${name} deleted (removed from the supervisor)`);
    }
  };

  const syncTokens = async () => {
    const list = ok(
      await req("GET", `/api/v1/secrets?fieldSelector=${encodeURIComponent(`type=${TOKEN_SECRET_TYPE}`)}`),
      "list token secrets",
    );
    for (const secret of list.items as any[]) {
      const ns = secret.metadata.namespace;
      const what = `secret ${ns}/${secret.metadata.name}`;
      const saName = secret.metadata.annotations?.["kubernetes.io/service-account.name"];
      let sa: any;
      if (saName !== undefined && saName !== "") {
        const r = await req("GET", `/api/v1/namespaces/${ns}/serviceaccounts/${encodeURIComponent(saName)}`);
        sa = r.status === 404 ? undefined : ok(r, `serviceaccount ${ns}/${saName}`);
      }
      const d = tokenDecision(secret, sa, rootCA);
      if (d.action === "skip") continue;
      if (d.action === "delete") {
        const r = await deleteWith(`/api/v1/namespaces/${ns}/secrets/${encodeURIComponent(secret.metadata.name)}`, {
          preconditions: { uid: secret.metadata.uid },
        });
        if (r.status === 404 || r.status === 409) continue;
        ok(r, `delete ${what}`);
        log(`${what} deleted: ${d.why}`);
        continue;
      }
      let token: string | undefined;
      if (d.needsToken) {
        const t = ok(
          await req(
            "POST",
            `/api/v1/namespaces/${ns}/serviceaccounts/${encodeURIComponent(saName)}/token`,
            tokenRequest(secret),
          ),
          `token for serviceaccount ${ns}/${saName}`,
        );
        token = t.status.token;
      }
      const r = await req(
        "PUT",
        `/api/v1/namespaces/${ns}/secrets/${encodeURIComponent(secret.metadata.name)}`,
        filledSecret(secret, sa, d, rootCA, token),
      );
      if (r.status === 404 || r.status === 409) continue;
      ok(r, `fill ${what}`);
      const parts = [d.needsToken && "token", d.needsCA && "ca.crt", d.needsNamespace && "namespace"].filter(Boolean);
      log(`${what} filled (${parts.join(", ")}) for serviceaccount ${saName}`);
    }
  };

  const syncNamespaces = async () => {
    const namespaces = ok(await req("GET", "/api/v1/namespaces"), "list namespaces").items as any[];
    const sas = ok(await req("GET", "/api/v1/serviceaccounts?fieldSelector=metadata.name%3Ddefault"), "list sa");
    const cms = ok(
      await req("GET", "/api/v1/configmaps?fieldSelector=metadata.name%3Dkube-root-ca.crt"),
      "list configmaps",
    );
    const has = (list: any, ns: string) => (list.items as any[]).some((x) => x.metadata.namespace === ns);
    for (const n of namespaces) {
      const ns = n.metadata.name;
      if (n.status?.phase === "Terminating") continue;
      if (!has(sas, ns)) {
        const r = await req("POST", `/api/v1/namespaces/${ns}/serviceaccounts`, {
          apiVersion: "v1",
          kind: "ServiceAccount",
          metadata: { name: "default" },
        });
        if (r.status === 201) log(`serviceaccount ${ns}/default created`);
        else if (r.status !== 409 && r.status !== 403 && r.status !== 404) ok(r, `serviceaccount ${ns}/default`);
      }
      if (!has(cms, ns) && rootCA !== "") {
        const r = await req("POST", `/api/v1/namespaces/${ns}/configmaps`, {
          apiVersion: "v1",
          kind: "ConfigMap",
          metadata: { name: "kube-root-ca.crt", annotations: { "kubernetes.io/description": ROOT_CA_DESCRIPTION } },
          data: { "ca.crt": rootCA },
        });
        if (r.status === 201) log(`configmap ${ns}/kube-root-ca.crt created`);
        else if (r.status !== 409 && r.status !== 403 && r.status !== 404) ok(r, `configmap ${ns}/kube-root-ca.crt`);
      }
    }
  };

  /** Pod names this process made or adopted, by namespace/name: the only pods it ever deletes. */
  const ours = new Set<string>();
  const started = new Map<string, number>();

  const syncPods = async (d: any, m: DeploymentModel, apiPods: Map<string, any>, state?: SupervisorState) => {
    const ns = d.metadata.namespace;
    const base = `/api/v1/namespaces/${ns}/pods`;
    const what = `deployment ${ns}/${d.metadata.name}`;
    const now = Date.now();
    for (const p of m.pods) {
      const key = `${ns}/${p.name}`;
      let pod = apiPods.get(key);
      if (pod === undefined) {
        if (p.terminating) continue;
        const r = await req("POST", base, podObject(d, m, p));
        if (r.status !== 201) {
          log(`${what}: pod ${p.name} not created: HTTP ${r.status}: ${(r.json as any)?.message ?? r.text}`);
          continue;
        }
        ours.add(key);
        pod = r.json;
      }
      if (p.node !== undefined && pod.spec?.nodeName === undefined) {
        const b = await req("POST", `${base}/${p.name}/binding`, {
          apiVersion: "v1",
          kind: "Binding",
          metadata: { name: p.name },
          target: { apiVersion: "v1", kind: "Node", name: p.node },
        });
        if (b.status !== 201 && b.status !== 409 && b.status !== 404) ok(b, `bind pod ${key}`);
        pod = { ...pod, spec: { ...pod.spec, nodeName: p.node } };
      }
      if (p.terminating) {
        if (pod.metadata.deletionTimestamp === undefined) {
          const r = await req("DELETE", `${base}/${p.name}`);
          if (r.status !== 404) ok(r, `delete pod ${key}`);
        }
        continue;
      }
      const node = p.node === undefined ? undefined : state?.nodes[p.node];
      if (!started.has(key)) started.set(key, now);
      const want = podStatus(
        p,
        node?.ip ?? undefined,
        node === undefined ? undefined : podIP(node.index, p.name),
        started.get(key)!,
      );
      if (!podStatusChanged(pod.status, want)) continue;
      const fresh = await req("GET", `${base}/${p.name}`);
      if (fresh.status !== 200) continue;
      const r = await req("PUT", `${base}/${p.name}/status`, { ...(fresh.json as any), status: want });
      if (r.status !== 409 && r.status !== 404) ok(r, `status of pod ${key}`);
    }
  };

  /** The kubelet's last word on a pod that ended: removed with no grace left. */
  const reapPods = async (apiPods: Map<string, any>) => {
    const live = new Set<string>();
    for (const [uid, m] of models) {
      const ns = namespaces.get(uid);
      for (const p of m.pods) live.add(`${ns}/${p.name}`);
    }
    for (const key of ours) {
      if (live.has(key)) continue;
      ours.delete(key);
      started.delete(key);
      if (!apiPods.has(key)) continue;
      const [ns, name] = key.split("/");
      const r = await deleteWith(`/api/v1/namespaces/${ns}/pods/${name}`, { gracePeriodSeconds: 0 });
      if (r.status !== 404) ok(r, `delete pod ${key}`);
    }
  };

  const clusterView = async (apiNodes: Map<string, any>, state: SupervisorState | undefined): Promise<ClusterView> => {
    const rcs = ok(await req("GET", "/apis/node.k8s.io/v1/runtimeclasses"), "list runtimeclasses");
    const nodes: NodeView[] = [...apiNodes.values()].map((node) => {
      const ready = (node.status?.conditions ?? []).find((c: any) => c.type === "Ready");
      const isReady = ready?.status === "True";
      return {
        name: node.metadata.name,
        labels: node.metadata.labels ?? {},
        ready: isReady,
        notReadySince: isReady || ready === undefined ? undefined : Date.parse(ready.lastTransitionTime),
        unschedulable: node.spec?.unschedulable === true,
        runtimes: state?.nodes[node.metadata.name]?.runtimes ?? [],
      };
    });
    return {
      nodes,
      runtimeClasses: Object.fromEntries((rcs.items as any[]).map((rc) => [rc.metadata.name, rc.handler])),
    };
  };

  const namespaces = new Map<string, string>(); // Deployment uid -> namespace, for reapPods

  const syncDeployments = async (cluster: ClusterView, state?: SupervisorState) => {
    const list = ok(await req("GET", "/apis/apps/v1/deployments"), "list deployments");
    const podList = ok(
      await req("GET", `/api/v1/pods?labelSelector=${encodeURIComponent(POD_TEMPLATE_HASH_LABEL)}`),
      "list pods",
    );
    const apiPods = new Map<string, any>(
      (podList.items as any[]).map((p) => [`${p.metadata.namespace}/${p.metadata.name}`, p]),
    );
    const seen = new Set<string>();
    const now = Date.now();
    for (const d of list.items as any[]) {
      const uid: string = d.metadata.uid;
      seen.add(uid);
      const what = `deployment ${d.metadata.namespace}/${d.metadata.name}`;
      let m = models.get(uid);
      if (m === undefined) {
        m = d.status === undefined ? emptyModel() : adopt(d, cluster, now);
        // The pods of an adopted Deployment are the ones already stored for its template, if any.
        const stored = [...apiPods.values()].filter(
          (p) =>
            p.metadata.namespace === d.metadata.namespace &&
            p.metadata.deletionTimestamp === undefined &&
            m!.templates.has(p.metadata.labels[POD_TEMPLATE_HASH_LABEL]),
        );
        m.pods.forEach((p, i) => {
          if (stored[i] === undefined) return;
          p.name = stored[i].metadata.name;
          p.node = stored[i].spec?.nodeName ?? p.node;
          ours.add(`${d.metadata.namespace}/${p.name}`);
        });
        models.set(uid, m);
        namespaces.set(uid, d.metadata.namespace);
      }
      const { status, events } = step(d, m, cluster, now);
      for (const e of events) log(`${what}: ${e}`);
      try {
        await syncPods(d, m, apiPods, state);
      } catch (err) {
        if (err instanceof Unreachable) throw err;
        log(`${what}: pods: ${(err as Error).message}`); // the status still follows the model
      }
      if (JSON.stringify(status) === JSON.stringify(d.status ?? {})) continue;
      const r = await req(
        "PUT",
        `/apis/apps/v1/namespaces/${d.metadata.namespace}/deployments/${encodeURIComponent(d.metadata.name)}/status`,
        { ...d, status },
      );
      if (r.status === 404 || r.status === 409) continue;
      ok(r, `status of ${what}`);
      const conds = (status.conditions ?? []).map((c) => `${c.type}=${c.status}/${c.reason}`).join(" ");
      log(
        `${what} status: generation ${status.observedGeneration} replicas ${status.replicas ?? 0} updated ${status.updatedReplicas ?? 0} ` +
          `ready ${status.readyReplicas ?? 0} available ${status.availableReplicas ?? 0} unavailable ${status.unavailableReplicas ?? 0} ${conds}`,
      );
    }
    for (const uid of models.keys())
      if (!seen.has(uid)) {
        models.delete(uid);
        namespaces.delete(uid);
      }
    await reapPods(apiPods);
  };

  const tick = async () => {
    const state = await readSupervisor();
    if (!runtimeClassesDone) await ensureRuntimeClasses();
    const list = ok(await req("GET", "/api/v1/nodes"), "list nodes");
    let apiNodes = new Map<string, any>((list.items as any[]).map((n) => [n.metadata.name, n]));
    if (state !== undefined) {
      await syncNodes(state, apiNodes);
      lastState = state;
      const again = ok(await req("GET", "/api/v1/nodes"), "list nodes");
      apiNodes = new Map<string, any>((again.items as any[]).map((n) => [n.metadata.name, n]));
    }
    await syncNamespaces();
    await syncTokens();
    await syncDeployments(await clusterView(apiNodes, state ?? lastState), state ?? lastState);
  };

  // The namespace controller and the garbage collector, which finish deletes (scripts/sim/deletion.ts).
  const deletion = new AbortController();
  opts.signal?.addEventListener("abort", () => deletion.abort(), { once: true });
  const finishing = runDeletionControllers(client, { signal: deletion.signal, log });

  let backoff = tickMs;
  let down = false;
  log(`cluster controllers started: API ${target.hostPort}, supervisor ${opts.supervisor}, polling every ${tickMs} ms`);
  while (opts.signal?.aborted !== true) {
    try {
      await tick();
      if (down) log(`API ${target.hostPort} answers again`);
      down = false;
      backoff = tickMs;
      await sleep(tickMs, opts.signal);
    } catch (err) {
      if (err instanceof Unreachable) {
        // A restarted API may have lost nothing (etcd keeps it), but k3s re-applies its manifests at start.
        runtimeClassesDone = false;
        log(`API ${err.message}: retrying in ${backoff / 1000} s`);
        down = true;
        await sleep(backoff, opts.signal);
        backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
      } else {
        log(`error: ${(err as Error).message}`);
        await sleep(tickMs, opts.signal);
      }
    }
  }
  deletion.abort();
  await finishing;
  client.close();
}
