/**
 * What Karmada v1.13.0 (commit ecc12b4c) writes as status, as pure functions: a member Cluster's Ready condition as
 * the cluster status controller computes it, and a Deployment template's status as the status aggregation computes
 * it. Shared by the Karmada controllers double (controllers.ts) and the demo tests' in-process member
 * (scripts/lib/karmadaDouble.ts): one copy of each rule.
 */

/** A metav1.Condition as the API stores it. */
export interface Condition {
  type: string;
  status: "True" | "False" | "Unknown";
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

/** Reasons and messages of cluster_status_controller.go:60-68. */
export const CLUSTER_READY = { reason: "ClusterReady", message: "cluster is healthy and ready to accept workloads" };
export const CLUSTER_NOT_READY = {
  reason: "ClusterNotReady",
  message: "cluster is reachable but health endpoint responded without ok",
};
export const CLUSTER_NOT_REACHABLE = { reason: "ClusterNotReachable", message: "cluster is not reachable" };
export const STATUS_COLLECTION_FAILED = "StatusCollectionFailed";

/** metav1.Time as the API writes it: RFC 3339, seconds. */
export const apiTime = (at: Date): string => at.toISOString().replace(/\.\d{3}Z$/, "Z");

/**
 * generateReadyCondition (cluster_status_controller.go:462-472): offline is ClusterNotReachable, online but
 * unhealthy ClusterNotReady, else ClusterReady. The time is filled in by setCondition.
 */
export function generateReadyCondition(online: boolean, healthy: boolean): Omit<Condition, "lastTransitionTime"> {
  const r = !online ? CLUSTER_NOT_REACHABLE : !healthy ? CLUSTER_NOT_READY : CLUSTER_READY;
  return { type: "Ready", status: online && healthy ? "True" : "False", ...r };
}

/**
 * The Ready condition written for a healthy member, or the one for an unreachable member, with its time (what a
 * test writes when it plays the controller's result directly).
 */
export function readyCondition(ready: boolean, at = new Date()): Condition {
  return { ...generateReadyCondition(ready, ready), lastTransitionTime: apiTime(at) };
}

/**
 * meta.SetStatusCondition (k8s.io/apimachinery pkg/api/meta/conditions.go): a condition of a new type is appended
 * with the time given; an existing one keeps its lastTransitionTime unless its status changes, and takes the new
 * reason, message and observedGeneration. Returns a new list.
 */
export function setCondition(
  conditions: Condition[] | undefined,
  next: Omit<Condition, "lastTransitionTime">,
  at: Date,
): Condition[] {
  const list = [...(conditions ?? [])];
  const i = list.findIndex((c) => c.type === next.type);
  if (i < 0) return [...list, { ...next, lastTransitionTime: apiTime(at) }];
  const old = list[i];
  list[i] = {
    ...old,
    ...next,
    lastTransitionTime: old.status === next.status ? old.lastTransitionTime : apiTime(at),
  };
  return list;
}

/** What clusterConditionStore keeps per cluster (cluster_condition_cache.go:29-34). */
export interface ThresholdState {
  readyCondition: string;
  thresholdStartTime: number;
}

/**
 * thresholdAdjustedReadyCondition (cluster_condition_cache.go:44-82): a change between Ready and not Ready is
 * reported only once the new observation has lasted `successMs` (to Ready) or `failureMs` (to not Ready), so a
 * short network failure does not flip the cluster; the first observation of a cluster, and a cluster without a Ready
 * condition yet, are reported at once. Returns the condition to write and the store's new state for the cluster.
 */
export function thresholdAdjusted(
  saved: ThresholdState | undefined,
  current: Condition | undefined,
  observed: Omit<Condition, "lastTransitionTime">,
  now: number,
  successMs: number,
  failureMs: number,
): { condition: Omit<Condition, "lastTransitionTime">; state: ThresholdState } {
  if (saved === undefined)
    return { condition: observed, state: { readyCondition: observed.status, thresholdStartTime: 0 } };
  if (current === undefined) return { condition: observed, state: saved };
  const state =
    saved.readyCondition !== observed.status ? { readyCondition: observed.status, thresholdStartTime: now } : saved;
  const threshold = observed.status === "True" ? successMs : failureMs;
  const flips = (observed.status === "True") !== (current.status === "True");
  if (flips && now < state.thresholdStartTime + threshold) return { condition: current, state };
  return { condition: observed, state };
}

/** What Karmada grabs from a member's Deployment (reflectstatus.go:54-95: WrappedDeploymentStatus). */
export interface MemberDeploymentStatus {
  /** The member object's own generation. */
  generation: number;
  /** Its annotation resourcetemplate.karmada.io/generation: the template generation it was made from. */
  resourceTemplateGeneration: number;
  observedGeneration: number;
  replicas: number;
  updatedReplicas: number;
  readyReplicas: number;
  availableReplicas: number;
  unavailableReplicas: number;
}

/* eslint-disable @typescript-eslint/no-explicit-any -- API objects are arbitrary JSON */

/**
 * reflectDeploymentStatus (reflectstatus.go:54-104): a member Deployment without a status field is "not collected"
 * (undefined); a missing or unparsable resourcetemplate.karmada.io/generation annotation is an error there (the
 * status is then not reflected): undefined here too.
 */
export function reflectDeploymentStatus(member: any): MemberDeploymentStatus | undefined {
  const s = member?.status;
  if (s === undefined || s === null || Object.keys(s).length === 0) return undefined;
  const raw = member.metadata?.annotations?.["resourcetemplate.karmada.io/generation"] ?? "";
  if (!/^\d+$/.test(raw)) return undefined;
  return {
    generation: member.metadata?.generation ?? 0,
    resourceTemplateGeneration: Number(raw),
    observedGeneration: s.observedGeneration ?? 0,
    replicas: s.replicas ?? 0,
    updatedReplicas: s.updatedReplicas ?? 0,
    readyReplicas: s.readyReplicas ?? 0,
    availableReplicas: s.availableReplicas ?? 0,
    unavailableReplicas: s.unavailableReplicas ?? 0,
  };
}

/**
 * Karmada's aggregation of a Deployment template's status, line for line from aggregateDeploymentStatus
 * (pkg/resourceinterpreter/default/native/aggregatestatus.go:60-121): the replica counts are summed over the
 * members; observedGeneration becomes the template's generation only when every member's status is of its latest
 * spec (observedGeneration >= generation) and was made from the latest template (resourceTemplateGeneration >= the
 * template's generation), else it keeps the old value (lines 83-101). No conditions are copied. Returns undefined
 * when nothing changed (lines 103-111: no write then).
 */
export function aggregateDeploymentStatus(
  template: { metadata: { generation: number }; status?: Record<string, number> },
  items: { clusterName: string; status?: MemberDeploymentStatus }[],
): Record<string, number> | undefined {
  const old = template.status ?? {};
  const next = { replicas: 0, readyReplicas: 0, updatedReplicas: 0, availableReplicas: 0, unavailableReplicas: 0 };
  let observedLatest = 0;
  for (const item of items) {
    const m = item.status;
    if (m === undefined) continue;
    if (m.observedGeneration >= m.generation && m.resourceTemplateGeneration >= template.metadata.generation)
      observedLatest++;
    next.replicas += m.replicas;
    next.readyReplicas += m.readyReplicas;
    next.updatedReplicas += m.updatedReplicas;
    next.availableReplicas += m.availableReplicas;
    next.unavailableReplicas += m.unavailableReplicas;
  }
  // Line 99: compared with every item, those without a status included.
  const observedGeneration =
    observedLatest === items.length ? template.metadata.generation : (old.observedGeneration ?? 0);
  const same =
    (old.observedGeneration ?? 0) === observedGeneration &&
    (Object.keys(next) as (keyof typeof next)[]).every((k) => (old[k] ?? 0) === next[k]);
  if (same) return undefined;
  // appsv1.DeploymentStatus fields are omitempty: zeroes are not written (helper.ToUnstructured).
  const status: Record<string, number> = {};
  for (const [k, v] of Object.entries({ observedGeneration, ...next })) if (v !== 0) status[k] = v;
  return {
    ...Object.fromEntries(Object.entries(old).filter(([k]) => !(k in next) && k !== "observedGeneration")),
    ...status,
  };
}

/** One request to a Kubernetes API: the shape of KubeApiServer.request and of the controllers' clients. */
export type ApiRequest = (method: string, path: string, body?: unknown) => Promise<{ status: number; body: any }>;

/**
 * Writes a Deployment template's aggregated status as Karmada's status controller does
 * (pkg/controllers/status/common.go:133-167: GET the template, aggregate, skip when equal, UpdateStatus, retried on
 * a conflict). Returns the status written, or undefined when nothing was written.
 */
export async function writeAggregatedStatus(
  request: ApiRequest,
  templatePath: string,
  items: { clusterName: string; status?: MemberDeploymentStatus }[],
): Promise<Record<string, number> | undefined> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const t = await request("GET", templatePath);
    if (t.status !== 200) return undefined;
    const status = aggregateDeploymentStatus(t.body, items);
    if (status === undefined) return undefined;
    const r = await request("PUT", `${templatePath}/status`, { ...t.body, status });
    if (r.status === 200) return status;
    if (r.status !== 409) throw new Error(`status of ${templatePath}: HTTP ${r.status}: ${r.body?.message}`);
  }
  return undefined;
}
