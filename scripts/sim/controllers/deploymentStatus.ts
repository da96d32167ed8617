/**
 * The deployment controller, the ReplicaSet controller, the scheduler and the kubelets of one cluster, as far as a
 * Deployment's status shows them, as pure functions over an in-memory model of its ReplicaSets and pods (the sim's
 * bare kube-apiserver runs none of them; scripts/sim/controllers/run.ts writes the status this computes). Copied
 * from kubernetes/kubernetes pkg/controller/deployment (v1.31; functions named, as their line numbers move between
 * releases):
 *
 * - sync.go calculateStatus(): the replica counts are summed over the ReplicaSets; unavailableReplicas is the sum of
 *   their spec.replicas minus the available ones, floored at 0; Available is True once availableReplicas >=
 *   replicas - MaxUnavailable (0 for Recreate), reasons MinimumReplicasAvailable / MinimumReplicasUnavailable.
 * - progress.go syncRolloutStatus(): Progressing NewReplicaSetAvailable once complete (util.DeploymentComplete),
 *   ReplicaSetUpdated while a count moves (util.DeploymentProgressing), ProgressDeadlineExceeded (status False) once
 *   nothing moved for progressDeadlineSeconds (util.DeploymentTimedOut); ReplicaFailure copied from the ReplicaSets.
 * - sync.go getNewReplicaSet(): Progressing NewReplicaSetCreated "Created new replica set %q" when it makes the new
 *   ReplicaSet, FoundNewReplicaSet when it finds one and no Progressing condition exists.
 * - recreate.go rolloutRecreate(): scale every old ReplicaSet to 0; wait until none of their pods runs (terminating
 *   pods included: oldPodsRunning); only then create the new ReplicaSet, at full size.
 * - rolling.go rolloutRolling(): reconcileNewReplicaSet (util.NewRSNewReplicas: up to replicas + maxSurge pods in
 *   all), then reconcileOldReplicaSets (cleanupUnhealthyReplicas, then scale down so that at least replicas -
 *   maxUnavailable stay available); util.ResolveFenceposts rounds maxSurge up and maxUnavailable down, and makes
 *   maxUnavailable 1 when both are 0.
 * - util/deployment_util.go SetDeploymentCondition(): a condition with the same status and reason is not rewritten;
 *   the same status keeps its lastTransitionTime.
 *
 * The ReplicaSet controller creates and deletes pods to match spec.replicas (replica_set.go manageReplicas; a pod
 * whose runtimeClassName names no RuntimeClass is refused by the API's RuntimeClass admission, and the ReplicaSet
 * gets ReplicaFailure FailedCreate). The scheduler binds a pod to a Ready, schedulable node whose labels match its
 * nodeSelector (NodeAffinity plugin; not-ready nodes carry the node.kubernetes.io/not-ready taint). A kubelet starts
 * a pod only while its node is Ready and its containerd has the pod's runtime handler (else RunPodSandbox fails and
 * the pod stays Pending); the pod turns ready one step after Running. The node lifecycle controller marks the pods of
 * a node that is not Ready unready (MarkPodsNotReady) and evicts them after DEFAULT_TOLERATION_S; a terminating pod
 * on a node that is not Ready stays until the node comes back (nothing confirms its end). Pods have no resource
 * requests here: a node's capacity is never the reason a pod does not fit.
 *
 * Every step of the model is one step of the real chain (one controller acting once), so a rollout goes through
 * the intermediate statuses Karmada and the program can observe.
 */

/** The Kubernetes API's default for spec.progressDeadlineSeconds (apps/v1 defaults.go SetDefaults_Deployment). */
export const DEFAULT_PROGRESS_DEADLINE_S = 600;
/**
 * How long a pod stays bound to a node that is not Ready before it is evicted: the DefaultTolerationSeconds admission
 * plugin gives every pod tolerations of 300 s for node.kubernetes.io/not-ready and unreachable.
 */
export const DEFAULT_TOLERATION_S = 300;

/* eslint-disable @typescript-eslint/no-explicit-any -- API objects are arbitrary JSON */

export interface NodeView {
  name: string;
  labels: Record<string, string>;
  ready: boolean;
  /** When the node last stopped being Ready (ms since the epoch); undefined while Ready. */
  notReadySince?: number;
  unschedulable: boolean;
  /** The runtime handlers its containerd has besides runc; undefined when unknown (then none). */
  runtimes: string[];
}

export interface ClusterView {
  nodes: NodeView[];
  /** RuntimeClass name -> handler. */
  runtimeClasses: Record<string, string>;
}

export interface SimPod {
  name: string;
  /** The pod-template-hash of its ReplicaSet. */
  hash: string;
  node?: string;
  phase: "Pending" | "Running";
  ready: boolean;
  readySince?: number;
  terminating: boolean;
  /** Why it is not running: unschedulable, or the sandbox failed. */
  waiting?: string;
}

export interface SimReplicaSet {
  hash: string;
  name: string;
  /** spec.replicas */
  replicas: number;
  /** Creation order: old ReplicaSets are scaled down oldest first. */
  created: number;
  /** A pod creation the API refused (ReplicaFailure FailedCreate), with its message. */
  failure?: string;
}

export interface DeploymentModel {
  replicaSets: SimReplicaSet[];
  pods: SimPod[];
  /** Each ReplicaSet's pod template, by hash. */
  templates: Map<string, any>;
  seq: number;
}

export interface Condition {
  type: string;
  status: "True" | "False" | "Unknown";
  reason: string;
  message: string;
  lastUpdateTime: string;
  lastTransitionTime: string;
}

export interface DeploymentStatus {
  observedGeneration: number;
  replicas?: number;
  updatedReplicas?: number;
  readyReplicas?: number;
  availableReplicas?: number;
  unavailableReplicas?: number;
  collisionCount?: number;
  conditions?: Condition[];
}

export const emptyModel = (): DeploymentModel => ({ replicaSets: [], pods: [], templates: new Map(), seq: 0 });

const time = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");

/** FNV-1a, 32 bits, as hash/fnv New32a (controller.ComputeHash hashes the pod template with it). */
export function fnv32a(text: string): number {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(text, "utf8")) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** k8s.io/apimachinery/pkg/util/rand SafeEncodeString: no vowels, no look-alike characters. */
export function safeEncode(s: string): string {
  const alphanums = "bcdfghjklmnpqrstvwxz2456789";
  return [...s].map((c) => alphanums[c.charCodeAt(0) % alphanums.length]).join("");
}

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (v !== null && typeof v === "object")
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(",")}}`;
  return JSON.stringify(v);
}

/**
 * The pod-template-hash (controller.ComputeHash: FNV-32a of the template, and of collisionCount when set, encoded by
 * SafeEncodeString). Upstream hashes the template's Go structure as spew prints it; this hashes its canonical JSON,
 * so the value differs from a real cluster's while changing exactly when the template changes.
 */
export function podTemplateHash(template: unknown, collisionCount?: number): string {
  const text = canonical(template) + (collisionCount === undefined ? "" : String(collisionCount));
  return safeEncode(String(fnv32a(text)));
}

/** intstr.GetScaledValueFromIntOrPercent. */
function scaled(v: number | string | undefined, fallback: string, total: number, roundUp: boolean): number {
  const value = v ?? fallback;
  if (typeof value === "number") return value;
  const m = /^(\d+)%$/.exec(value);
  if (m === null) return Number(value);
  const x = (Number(m[1]) * total) / 100;
  return roundUp ? Math.ceil(x) : Math.floor(x);
}

const isRolling = (d: any) => (d.spec?.strategy?.type ?? "RollingUpdate") === "RollingUpdate";
const desired = (d: any): number => d.spec?.replicas ?? 1;

/** util.ResolveFenceposts: maxSurge rounded up, maxUnavailable down; both 0 makes maxUnavailable 1. */
export function fenceposts(d: any): { surge: number; unavailable: number } {
  const r = d.spec?.strategy?.rollingUpdate ?? {};
  const surge = scaled(r.maxSurge, "25%", desired(d), true);
  let unavailable = scaled(r.maxUnavailable, "25%", desired(d), false);
  if (surge === 0 && unavailable === 0) unavailable = 1;
  return { surge, unavailable };
}

/** util.MaxUnavailable: 0 for Recreate and for 0 replicas, never more than replicas. */
export function maxUnavailable(d: any): number {
  if (!isRolling(d) || desired(d) === 0) return 0;
  return Math.min(fenceposts(d).unavailable, desired(d));
}

/** util.MaxSurge: 0 for Recreate. */
export function maxSurge(d: any): number {
  return isRolling(d) ? fenceposts(d).surge : 0;
}

const progressDeadline = (d: any): number | undefined => {
  const v = d.spec?.progressDeadlineSeconds ?? DEFAULT_PROGRESS_DEADLINE_S;
  return v === 2147483647 ? undefined : v; // util.HasProgressDeadline: MaxInt32 means none
};

/** The pods a ReplicaSet counts (controller.FilterActivePods: not terminating). */
const active = (m: DeploymentModel, hash: string) => m.pods.filter((p) => p.hash === hash && !p.terminating);

export interface ReplicaSetStatus {
  replicas: number;
  readyReplicas: number;
  availableReplicas: number;
}

export function replicaSetStatus(m: DeploymentModel, rs: SimReplicaSet, minReadySeconds: number, now: number) {
  const pods = active(m, rs.hash);
  return {
    replicas: pods.length,
    readyReplicas: pods.filter((p) => p.ready).length,
    availableReplicas: pods.filter((p) => p.ready && (p.readySince ?? now) + minReadySeconds * 1000 <= now).length,
  };
}

function condition(type: string, status: Condition["status"], reason: string, message: string, now: number): Condition {
  return { type, status, reason, message, lastUpdateTime: time(now), lastTransitionTime: time(now) };
}

/** util.SetDeploymentCondition. */
export function setCondition(conditions: Condition[], c: Condition): Condition[] {
  const current = conditions.find((x) => x.type === c.type);
  if (current !== undefined && current.status === c.status && current.reason === c.reason) return conditions;
  const next =
    current !== undefined && current.status === c.status ? { ...c, lastTransitionTime: current.lastTransitionTime } : c;
  return [...conditions.filter((x) => x.type !== c.type), next];
}

const removeCondition = (conditions: Condition[], type: string) => conditions.filter((x) => x.type !== type);

/** sync.go calculateStatus. */
export function calculateStatus(d: any, m: DeploymentModel, newRS: SimReplicaSet | undefined, now: number) {
  const minReady = d.spec?.minReadySeconds ?? 0;
  const statuses = m.replicaSets.map((rs) => replicaSetStatus(m, rs, minReady, now));
  const sum = (k: keyof ReplicaSetStatus) => statuses.reduce((a, s) => a + s[k], 0);
  const available = sum("availableReplicas");
  const total = m.replicaSets.reduce((a, rs) => a + rs.replicas, 0);
  const status: DeploymentStatus = {
    observedGeneration: d.metadata.generation,
    replicas: sum("replicas"),
    updatedReplicas: newRS === undefined ? 0 : replicaSetStatus(m, newRS, minReady, now).replicas,
    readyReplicas: sum("readyReplicas"),
    availableReplicas: available,
    unavailableReplicas: Math.max(total - available, 0),
    collisionCount: d.status?.collisionCount,
  };
  let conditions: Condition[] = d.status?.conditions ?? [];
  conditions =
    available >= desired(d) - maxUnavailable(d)
      ? setCondition(
          conditions,
          condition("Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability.", now),
        )
      : setCondition(
          conditions,
          condition(
            "Available",
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.",
            now,
          ),
        );
  return { ...status, conditions };
}

/** util.DeploymentComplete. */
export function deploymentComplete(d: any, s: DeploymentStatus): boolean {
  const r = desired(d);
  return (
    (s.updatedReplicas ?? 0) === r &&
    (s.replicas ?? 0) === r &&
    (s.availableReplicas ?? 0) === r &&
    s.observedGeneration >= d.metadata.generation
  );
}

/** util.DeploymentProgressing: a count moved the right way since the status last written. */
export function deploymentProgressing(d: any, s: DeploymentStatus): boolean {
  const old = d.status ?? {};
  const oldOld = (old.replicas ?? 0) - (old.updatedReplicas ?? 0);
  const newOld = (s.replicas ?? 0) - (s.updatedReplicas ?? 0);
  return (
    (s.updatedReplicas ?? 0) > (old.updatedReplicas ?? 0) ||
    newOld < oldOld ||
    (s.readyReplicas ?? 0) > (old.readyReplicas ?? 0) ||
    (s.availableReplicas ?? 0) > (old.availableReplicas ?? 0)
  );
}

/** util.DeploymentTimedOut. */
export function deploymentTimedOut(d: any, s: DeploymentStatus, now: number): boolean {
  const deadline = progressDeadline(d);
  if (deadline === undefined) return false;
  const c = s.conditions?.find((x) => x.type === "Progressing");
  if (c === undefined || c.reason === "NewReplicaSetAvailable") return false;
  if (c.reason === "ProgressDeadlineExceeded") return true;
  return Date.parse(c.lastUpdateTime) + deadline * 1000 < now;
}

/** progress.go syncRolloutStatus: calculateStatus plus the Progressing and ReplicaFailure conditions. */
export function rolloutStatus(d: any, m: DeploymentModel, newRS: SimReplicaSet | undefined, now: number) {
  const s = calculateStatus(d, m, newRS, now);
  let conditions = s.conditions;
  const deadline = progressDeadline(d);
  if (deadline === undefined) conditions = removeCondition(conditions, "Progressing");
  const current = (d.status?.conditions ?? []).find((x: Condition) => x.type === "Progressing") as
    Condition | undefined;
  const complete = s.replicas === s.updatedReplicas && current?.reason === "NewReplicaSetAvailable";
  const what = newRS === undefined ? `Deployment "${d.metadata.name}"` : `ReplicaSet "${newRS.name}"`;
  if (deadline !== undefined && !complete) {
    const withConditions = { ...s, conditions };
    if (deploymentComplete(d, withConditions)) {
      conditions = setCondition(
        conditions,
        condition("Progressing", "True", "NewReplicaSetAvailable", `${what} has successfully progressed.`, now),
      );
    } else if (deploymentProgressing(d, withConditions)) {
      let c = condition("Progressing", "True", "ReplicaSetUpdated", `${what} is progressing.`, now);
      if (current !== undefined) {
        if (current.status === "True") c = { ...c, lastTransitionTime: current.lastTransitionTime };
        conditions = removeCondition(conditions, "Progressing");
      }
      conditions = setCondition(conditions, c);
    } else if (deploymentTimedOut(d, withConditions, now)) {
      conditions = setCondition(
        conditions,
        condition("Progressing", "False", "ProgressDeadlineExceeded", `${what} has timed out progressing.`, now),
      );
    }
  }
  // getReplicaFailures: the new ReplicaSet's failure first, else an old one's.
  const failed = [newRS, ...m.replicaSets.filter((rs) => rs !== newRS)].find((rs) => rs?.failure !== undefined);
  conditions =
    failed === undefined
      ? removeCondition(conditions, "ReplicaFailure")
      : setCondition(conditions, condition("ReplicaFailure", "True", "FailedCreate", failed.failure!, now));
  return { ...s, conditions };
}

/** What one step of the chain did, one line each, for the log. */
export type Events = string[];

/** Does `node` take a pod with this nodeSelector (NodeAffinity, NodeUnschedulable and the not-ready taint)? */
export function fits(node: NodeView, podSpec: any): boolean {
  if (!node.ready || node.unschedulable) return false;
  const selector: Record<string, string> = podSpec?.nodeSelector ?? {};
  return Object.entries(selector).every(([k, v]) => node.labels[k] === v);
}

/** The kubelets and the node lifecycle controller: one step for each pod. */
function kubelets(m: DeploymentModel, cluster: ClusterView, now: number, ev: Events) {
  const nodes = new Map(cluster.nodes.map((n) => [n.name, n]));
  const pods: SimPod[] = [];
  for (const p of m.pods) {
    const node = p.node === undefined ? undefined : nodes.get(p.node);
    if (p.node !== undefined && node === undefined) {
      // podgc: pods bound to a Node that no longer exists are deleted at once.
      ev.push(`pod ${p.name} deleted: its node ${p.node} no longer exists`);
      continue;
    }
    if (p.terminating) {
      if (node === undefined || node.ready) {
        ev.push(`pod ${p.name} terminated`);
        continue;
      }
      pods.push(p); // its kubelet does not answer: the pod stays Terminating
      continue;
    }
    if (node === undefined) {
      pods.push(p);
      continue;
    }
    if (!node.ready) {
      if (node.notReadySince !== undefined && now - node.notReadySince >= DEFAULT_TOLERATION_S * 1000) {
        ev.push(`pod ${p.name} evicted: node ${node.name} not ready for ${DEFAULT_TOLERATION_S} s`);
        pods.push({ ...p, terminating: true, ready: false });
      } else if (p.ready) {
        ev.push(`pod ${p.name} not ready: node ${node.name} is not ready`);
        pods.push({ ...p, ready: false, readySince: undefined });
      } else pods.push(p);
      continue;
    }
    if (p.phase === "Pending") {
      const spec = m.templates.get(p.hash)?.spec ?? {};
      const rc: string | undefined = spec.runtimeClassName;
      const handler = rc === undefined ? "runc" : cluster.runtimeClasses[rc];
      if (handler !== undefined && handler !== "runc" && !node.runtimes.includes(handler)) {
        const why = `RunPodSandbox failed: no runtime for "${handler}" is configured`;
        if (p.waiting !== why) ev.push(`pod ${p.name} on ${node.name}: ${why}`);
        pods.push({ ...p, waiting: why });
        continue;
      }
      ev.push(`pod ${p.name} running on ${node.name}`);
      pods.push({ ...p, phase: "Running", waiting: undefined });
      continue;
    }
    if (!p.ready) {
      ev.push(`pod ${p.name} ready`);
      pods.push({ ...p, ready: true, readySince: now });
      continue;
    }
    pods.push(p);
  }
  m.pods = pods;
}

/** The scheduler: binds each unbound pod to the first fitting node by name (no scoring: no resources here). */
function scheduler(m: DeploymentModel, cluster: ClusterView, ev: Events) {
  const nodes = [...cluster.nodes].sort((a, b) => a.name.localeCompare(b.name));
  m.pods = m.pods.map((p) => {
    if (p.node !== undefined || p.terminating) return p;
    const spec = m.templates.get(p.hash)?.spec ?? {};
    const node = nodes.find((n) => fits(n, spec));
    if (node === undefined) {
      const why = `0/${nodes.length} nodes are available: none is Ready and matches the pod's node selector`;
      if (p.waiting !== why) ev.push(`pod ${p.name} unschedulable: ${why}`);
      return { ...p, waiting: why };
    }
    ev.push(`pod ${p.name} scheduled on ${node.name}`);
    return { ...p, node: node.name, waiting: undefined };
  });
}

const suffix = (m: DeploymentModel) => safeEncode(String(fnv32a(String(++m.seq))).slice(-5));

/** replica_set.go manageReplicas: one round of creations or deletions per ReplicaSet. */
function replicaSets(m: DeploymentModel, cluster: ClusterView, ev: Events) {
  for (const rs of m.replicaSets) {
    const pods = active(m, rs.hash);
    if (pods.length < rs.replicas) {
      const rc: string | undefined = m.templates.get(rs.hash)?.spec?.runtimeClassName;
      if (rc !== undefined && cluster.runtimeClasses[rc] === undefined) {
        const why = `pods "${rs.name}-" is forbidden: pod rejected: RuntimeClass "${rc}" not found`;
        if (rs.failure !== why) ev.push(`replica set ${rs.name}: ${why}`);
        rs.failure = why;
        continue;
      }
      rs.failure = undefined;
      for (let i = pods.length; i < rs.replicas; i++) {
        const pod: SimPod = {
          name: `${rs.name}-${suffix(m)}`,
          hash: rs.hash,
          phase: "Pending",
          ready: false,
          terminating: false,
        };
        ev.push(`pod ${pod.name} created`);
        m.pods.push(pod);
      }
    } else if (pods.length > rs.replicas) {
      // controller.ActivePods order: unbound, then pending, then not ready first.
      const rank = (p: SimPod) => (p.node === undefined ? 0 : p.phase === "Pending" ? 1 : p.ready ? 3 : 2);
      const victims = [...pods].sort((a, b) => rank(a) - rank(b)).slice(0, pods.length - rs.replicas);
      for (const v of victims) {
        ev.push(`pod ${v.name} deleted`);
        v.terminating = true;
        v.ready = false;
      }
    }
  }
}

/**
 * The deployment controller's sync of one Deployment: the new ReplicaSet (by template hash), then the strategy's
 * step. Returns the new ReplicaSet and the Progressing condition getNewReplicaSet writes, if any.
 */
function deploymentController(d: any, m: DeploymentModel, hash: string, now: number, ev: Events) {
  const r = desired(d);
  const name = `${d.metadata.name}-${hash}`;
  let newRS = m.replicaSets.find((rs) => rs.hash === hash);
  const old = m.replicaSets.filter((rs) => rs.hash !== hash);
  let progressing: Condition | undefined;
  const hasProgressing = (d.status?.conditions ?? []).some((c: Condition) => c.type === "Progressing");
  if (newRS !== undefined && !hasProgressing && progressDeadline(d) !== undefined)
    progressing = condition("Progressing", "True", "FoundNewReplicaSet", `Found new replica set "${name}"`, now);
  const create = (replicas: number) => {
    const rs: SimReplicaSet = { hash, name, replicas, created: ++m.seq };
    m.replicaSets.push(rs);
    ev.push(`replica set ${name} created with ${replicas} replicas`);
    if (progressDeadline(d) !== undefined)
      progressing = condition("Progressing", "True", "NewReplicaSetCreated", `Created new replica set "${name}"`, now);
    return rs;
  };
  const scale = (rs: SimReplicaSet, to: number) => {
    if (rs.replicas === to) return false;
    ev.push(`scaled ${to > rs.replicas ? "up" : "down"} replica set ${rs.name} to ${to} from ${rs.replicas}`);
    rs.replicas = to;
    return true;
  };
  if (d.spec?.paused === true) return { newRS, progressing };
  if (!isRolling(d)) {
    // recreate.go rolloutRecreate
    let scaledDown = false;
    for (const rs of old) if (scale(rs, 0)) scaledDown = true;
    if (scaledDown) return { newRS, progressing };
    if (m.pods.some((p) => p.hash !== hash)) return { newRS, progressing }; // oldPodsRunning
    if (newRS === undefined) newRS = create(r);
    scale(newRS, r);
    return { newRS, progressing };
  }
  // rolling.go rolloutRolling
  const total = () => m.replicaSets.reduce((a, rs) => a + rs.replicas, 0);
  const newReplicas = (rs: SimReplicaSet | undefined) => {
    const current = total();
    const max = r + maxSurge(d);
    if (current >= max) return rs?.replicas ?? 0;
    return (rs?.replicas ?? 0) + Math.max(0, Math.min(max - current, r - (rs?.replicas ?? 0)));
  };
  if (newRS === undefined) newRS = create(newReplicas(undefined));
  else if (newRS.replicas > r) {
    if (scale(newRS, r)) return { newRS, progressing };
  } else if (newRS.replicas < r) {
    if (scale(newRS, newReplicas(newRS))) return { newRS, progressing };
  }
  // reconcileOldReplicaSets
  const minReady = d.spec?.minReadySeconds ?? 0;
  const avail = (rs: SimReplicaSet) => replicaSetStatus(m, rs, minReady, now).availableReplicas;
  const oldCount = old.reduce((a, rs) => a + rs.replicas, 0);
  if (oldCount === 0) return { newRS, progressing };
  const minAvailable = r - maxUnavailable(d);
  const newUnavailable = newRS.replicas - avail(newRS);
  const maxScaledDown = total() - minAvailable - newUnavailable;
  if (maxScaledDown <= 0) return { newRS, progressing };
  const byAge = [...old].sort((a, b) => a.created - b.created);
  let cleaned = 0;
  for (const rs of byAge) {
    if (cleaned >= maxScaledDown) break;
    const unhealthy = rs.replicas - avail(rs);
    if (rs.replicas === 0 || unhealthy <= 0) continue;
    const down = Math.min(maxScaledDown - cleaned, unhealthy);
    scale(rs, rs.replicas - down);
    cleaned += down;
  }
  const available = m.replicaSets.reduce((a, rs) => a + avail(rs), 0);
  let toScaleDown = available - minAvailable;
  for (const rs of byAge) {
    if (toScaleDown <= 0) break;
    if (rs.replicas === 0) continue;
    const down = Math.min(rs.replicas, toScaleDown);
    scale(rs, rs.replicas - down);
    toScaleDown -= down;
  }
  return { newRS, progressing };
}

/**
 * One step of the chain for one Deployment: kubelets, scheduler, ReplicaSet controller, deployment controller, in
 * that order, each acting once on what the previous step left; then the status the deployment controller writes.
 * Mutates `m`. `d` is the Deployment as the API returns it.
 */
export function step(d: any, m: DeploymentModel, cluster: ClusterView, now: number) {
  const ev: Events = [];
  const hash = podTemplateHash(d.spec.template, d.status?.collisionCount);
  m.templates.set(hash, d.spec.template);
  kubelets(m, cluster, now, ev);
  scheduler(m, cluster, ev);
  replicaSets(m, cluster, ev);
  const { newRS, progressing } = deploymentController(d, m, hash, now, ev);
  const base =
    progressing === undefined
      ? d
      : { ...d, status: { ...d.status, conditions: setCondition(d.status?.conditions ?? [], progressing) } };
  const status = rolloutStatus(base, m, newRS, now);
  // ReplicaSets scaled to 0 with no pod left are kept (revisionHistoryLimit) but count nothing; drop them from the
  // model beyond the limit, as cleanupDeployment does.
  const limit = d.spec?.revisionHistoryLimit ?? 10;
  const idle = m.replicaSets.filter((rs) => rs !== newRS && rs.replicas === 0 && active(m, rs.hash).length === 0);
  for (const rs of idle.sort((a, b) => a.created - b.created).slice(0, Math.max(0, idle.length - limit))) {
    m.replicaSets.splice(m.replicaSets.indexOf(rs), 1);
    m.templates.delete(rs.hash);
  }
  return { status: compact(status), events: ev };
}

/** appsv1.DeploymentStatus: zero counts are omitted (omitempty), as the API stores what the controller sends. */
export function compact(s: DeploymentStatus): DeploymentStatus {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(s)) {
    if (v === undefined || v === 0) continue;
    if (Array.isArray(v) && v.length === 0) continue;
    out[k] = v;
  }
  return out as unknown as DeploymentStatus;
}

/**
 * A model for a Deployment first seen with a status that is complete for its current template (this process
 * restarted; the pods kept running on their nodes): its pods, ready, on the first fitting nodes.
 */
export function adopt(d: any, cluster: ClusterView, now: number): DeploymentModel {
  const m = emptyModel();
  const s = d.status ?? {};
  if (s.observedGeneration !== d.metadata.generation || (s.availableReplicas ?? 0) < desired(d)) return m;
  const hash = podTemplateHash(d.spec.template, s.collisionCount);
  const rs: SimReplicaSet = { hash, name: `${d.metadata.name}-${hash}`, replicas: desired(d), created: ++m.seq };
  m.replicaSets.push(rs);
  m.templates.set(hash, d.spec.template);
  const nodes = [...cluster.nodes].sort((a, b) => a.name.localeCompare(b.name));
  const node = nodes.find((n) => fits(n, d.spec.template.spec));
  for (let i = 0; i < desired(d); i++)
    m.pods.push({
      name: `${rs.name}-${suffix(m)}`,
      hash,
      node: node?.name,
      phase: node === undefined ? "Pending" : "Running",
      ready: node !== undefined,
      readySince: node === undefined ? undefined : now - (d.spec?.minReadySeconds ?? 0) * 1000,
      terminating: false,
    });
  return m;
}
