/**
 * What Karmada v1.13.0 (commit ecc12b4c) propagates, as pure functions: which resource templates a
 * PropagationPolicy selects, which namespaces are synced to every member, and the object it applies to a member
 * cluster for a template (labels and annotations it adds, fields it prunes, fields it keeps from the member's copy
 * on an update, its conflict rule). controllers.ts does the API calls.
 */

/* eslint-disable @typescript-eslint/no-explicit-any -- API objects are arbitrary JSON */

// Label and annotation keys, as named in pkg/apis/policy/v1alpha1/well_known_constants.go,
// pkg/apis/work/v1alpha2/well_known_constants.go and pkg/util/constants.go.
export const POLICY_PERMANENT_ID = "propagationpolicy.karmada.io/permanent-id";
export const POLICY_NAMESPACE_ANNOTATION = "propagationpolicy.karmada.io/namespace";
export const POLICY_NAME_ANNOTATION = "propagationpolicy.karmada.io/name";
export const POLICY_FINALIZER = "karmada.io/propagation-policy-controller";
export const CLUSTER_FINALIZER = "karmada.io/cluster-controller";
export const BINDING_PERMANENT_ID = "resourcebinding.karmada.io/permanent-id";
export const BINDING_NAMESPACE_ANNOTATION = "resourcebinding.karmada.io/namespace";
export const BINDING_NAME_ANNOTATION = "resourcebinding.karmada.io/name";
export const WORK_PERMANENT_ID = "work.karmada.io/permanent-id";
export const WORK_NAME_ANNOTATION = "work.karmada.io/name";
export const WORK_NAMESPACE_ANNOTATION = "work.karmada.io/namespace";
export const CONFLICT_RESOLUTION_ANNOTATION = "work.karmada.io/conflict-resolution";
export const TEMPLATE_GENERATION_ANNOTATION = "resourcetemplate.karmada.io/generation";
export const TEMPLATE_UID_ANNOTATION = "resourcetemplate.karmada.io/uid";
export const MANAGED_LABELS_ANNOTATION = "resourcetemplate.karmada.io/managed-labels";
export const MANAGED_ANNOTATIONS_ANNOTATION = "resourcetemplate.karmada.io/managed-annotations";
export const RETAIN_REPLICAS_LABEL = "resourcetemplate.karmada.io/retain-replicas";
export const MANAGED_LABEL = "karmada.io/managed";
export const SKIP_AUTO_PROPAGATION_LABEL = "namespace.karmada.io/skip-auto-propagation";
/** names.ExecutionSpacePrefix (pkg/util/names/names.go:73-74). */
export const EXECUTION_SPACE_PREFIX = "karmada-es-";

export interface ResourceSelector {
  apiVersion: string;
  kind: string;
  namespace?: string;
  name?: string;
  labelSelector?: LabelSelector;
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: "In" | "NotIn" | "Exists" | "DoesNotExist"; values?: string[] }[];
}

/** metav1.LabelSelectorAsSelector then Matches (k8s.io/apimachinery pkg/apis/meta/v1/helpers.go). */
export function labelSelectorMatches(selector: LabelSelector, labels: Record<string, string> | undefined): boolean {
  const l = labels ?? {};
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (l[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(l, e.key);
    const inValues = has && (e.values ?? []).includes(l[e.key]);
    if (e.operator === "In" && !inValues) return false;
    if (e.operator === "NotIn" && inValues) return false;
    if (e.operator === "Exists" && !has) return false;
    if (e.operator === "DoesNotExist" && has) return false;
  }
  return true;
}

/**
 * util.ResourceMatches (pkg/util/selector.go:49-93): apiVersion and kind equal, the namespace if the selector names
 * one; then a name, when given, alone decides (the label selector is ignored); else the label selector, when given;
 * else everything matches.
 */
export function resourceMatches(resource: any, rs: ResourceSelector): boolean {
  if (resource.apiVersion !== rs.apiVersion || resource.kind !== rs.kind) return false;
  const ns = resource.metadata?.namespace ?? "";
  if ((rs.namespace ?? "") !== "" && ns !== rs.namespace) return false;
  if ((rs.name ?? "") !== "") return rs.name === resource.metadata?.name;
  if (rs.labelSelector === undefined || rs.labelSelector === null) return true;
  return labelSelectorMatches(rs.labelSelector, resource.metadata?.labels);
}

/**
 * Whether a namespaced PropagationPolicy selects a template: only templates of its own namespace
 * (pkg/detector/detector.go, LookForMatchedPolicy lists policies of the object's namespace), by any of its selectors.
 */
export function policySelects(policy: any, template: any): boolean {
  if ((template.metadata?.namespace ?? "") !== policy.metadata?.namespace) return false;
  return ((policy.spec?.resourceSelectors ?? []) as ResourceSelector[]).some((rs) => resourceMatches(template, rs));
}

/**
 * The namespace sync controller's rule (pkg/controllers/namespace/namespace_sync_controller.go:83-93, 110-121):
 * every namespace of the Karmada API goes to every member, except the reserved ones (names.go:183-187:
 * karmada-system, karmada-cluster, karmada-es-*), default, the ones matching --skipped-propagating-namespaces
 * (default "kube-.*", cmd/controller-manager/app/options/options.go:204), those labelled
 * namespace.karmada.io/skip-auto-propagation=true, and those being deleted.
 */
export function namespaceShouldBeSynced(ns: any): boolean {
  const name: string = ns.metadata?.name ?? "";
  if (name === "karmada-system" || name === "karmada-cluster" || name.startsWith(EXECUTION_SPACE_PREFIX)) return false;
  if (name === "default" || /^(?:kube-.*)$/.test(name)) return false;
  if (ns.metadata?.deletionTimestamp !== undefined) return false;
  return String(ns.metadata?.labels?.[SKIP_AUTO_PROPAGATION_LABEL] ?? "").toLowerCase() !== "true";
}

/** 32-bit FNV-1a, as Go's hash/fnv New32a. */
function fnv32a(text: string): number {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(text, "utf8")) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** k8s.io/apimachinery pkg/util/rand SafeEncodeString: each byte mapped onto a vowel-free alphabet. */
function safeEncodeString(s: string): string {
  const alphanums = "bcdfghjklmnpqrstvwxz2456789";
  return [...Buffer.from(s, "utf8")].map((b) => alphanums[b % alphanums.length]).join("");
}

/** names.GenerateBindingName (names.go:99-112): "<name>-<kind>", lower case, ':' as '.'. */
export function bindingName(kind: string, name: string): string {
  return `${name.replaceAll(":", ".")}-${kind}`.toLowerCase();
}

/**
 * names.GenerateWorkName (names.go:128-150): "<name>-<hash>", the hash FNV-32a of the namespace-name-kind string
 * as github.com/kr/pretty prints it with %v (pkg/util/hash/hash.go: the bare string), then SafeEncodeString of its decimal digits.
 */
export function workName(kind: string, name: string, namespace: string): string {
  const n = name.replaceAll(":", ".").toLowerCase();
  const key = (namespace === "" ? `${n}-${kind}` : `${namespace}-${n}-${kind}`).toLowerCase();
  return `${n}-${safeEncodeString(String(fnv32a(key)))}`;
}

/**
 * prune.RemoveIrrelevantFields (pkg/resourceinterpreter/default/native/prune/prune.go:47-93, 134-140, 186-195):
 * what the API server fills in, the status, a Deployment's revision annotations, a Service's cluster IPs (unless
 * headless).
 */
export function pruneIrrelevantFields(obj: any): any {
  const o = structuredClone(obj);
  for (const k of [
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
    "managedFields",
    "resourceVersion",
    "selfLink",
    "uid",
    "ownerReferences",
    "finalizers",
  ])
    delete o.metadata?.[k];
  delete o.status;
  if (o.kind === "Deployment" && o.metadata?.annotations !== undefined) {
    delete o.metadata.annotations["deployment.kubernetes.io/revision"];
    delete o.metadata.annotations["deployment.kubernetes.io/revision-history"];
  }
  if (o.kind === "Service" && o.spec?.clusterIP !== undefined && o.spec.clusterIP !== "None") {
    delete o.spec.clusterIP;
    delete o.spec.clusterIPs;
  }
  return o;
}

/** util.RecordManagedAnnotations then RecordManagedLabels (pkg/util/annotation.go:87-103, label.go:112-126). */
function recordManaged(o: any, workId: string): void {
  const a: Record<string, string> = (o.metadata.annotations ??= {});
  const keys = [MANAGED_ANNOTATIONS_ANNOTATION, MANAGED_LABELS_ANNOTATION];
  for (const k of Object.keys(a))
    if (k !== MANAGED_ANNOTATIONS_ANNOTATION && k !== MANAGED_LABELS_ANNOTATION) keys.push(k);
  a[MANAGED_ANNOTATIONS_ANNOTATION] = keys.sort().join(",");
  // helper.SetLabelsAndAnnotationsForWorkload (pkg/util/helper/work.go:116-124): the Work's id between the two.
  o.metadata.labels = { ...o.metadata.labels, [WORK_PERMANENT_ID]: workId };
  a[MANAGED_LABELS_ANNOTATION] = Object.keys(o.metadata.labels).sort().join(",");
}

/** What a template's object on a member is made from: the binding's and the Work's identities. */
export interface WorkContext {
  cluster: string;
  /** The ResourceBinding's permanent id (its label, set when it is created). */
  bindingId: string;
  /** The Work's permanent id (its label, set when it is created). */
  workId: string;
  /** The policy's spec.conflictResolution (the CRD defaults it to Abort). */
  conflictResolution: "Abort" | "Overwrite";
}

/**
 * The object Karmada applies to a member for a resource template: ensureWork (pkg/controllers/binding/
 * common.go:45-144: the binding's permanent-id label, 212-224; the template generation and the binding's name and
 * namespace as annotations, 226-243; the conflict resolution, the template's own annotation first, 276-299), then
 * CreateOrUpdateWork (pkg/controllers/ctrlutil/work.go:40-117: karmada.io/managed=true, the template's uid, the
 * Work's name and namespace; pruned; the Work's permanent id; the managed key records).
 */
export function memberObject(template: any, w: WorkContext): any {
  const o = structuredClone(template);
  o.metadata.labels = { ...o.metadata.labels, [BINDING_PERMANENT_ID]: w.bindingId };
  const own = o.metadata.annotations?.[CONFLICT_RESOLUTION_ANNOTATION];
  const conflict =
    own === "overwrite" || own === "abort" ? own : w.conflictResolution === "Overwrite" ? "overwrite" : "abort";
  const generation: number = template.metadata.generation ?? 0;
  o.metadata.annotations = {
    ...o.metadata.annotations,
    ...(generation > 0 ? { [TEMPLATE_GENERATION_ANNOTATION]: String(generation) } : {}),
    [BINDING_NAMESPACE_ANNOTATION]: template.metadata.namespace,
    [BINDING_NAME_ANNOTATION]: bindingName(template.kind, template.metadata.name),
  };
  return finishWork(o, template, w, conflict);
}

/**
 * The Namespace object the namespace sync controller's Work applies to a member (namespace_sync_controller.go:
 * 123-177: no binding, no conflict-resolution annotation), through CreateOrUpdateWork as memberObject.
 */
export function memberNamespace(ns: any, w: Pick<WorkContext, "cluster" | "workId">): any {
  return finishWork(structuredClone(ns), ns, { ...w, bindingId: "", conflictResolution: "Abort" }, undefined);
}

function finishWork(o: any, template: any, w: WorkContext, conflict: string | undefined): any {
  o.metadata.labels = { ...o.metadata.labels, [MANAGED_LABEL]: "true" };
  o.metadata.annotations = {
    ...o.metadata.annotations,
    [TEMPLATE_UID_ANNOTATION]: template.metadata.uid ?? "",
    [WORK_NAME_ANNOTATION]: workName(template.kind, template.metadata.name, template.metadata.namespace ?? ""),
    [WORK_NAMESPACE_ANNOTATION]: `${EXECUTION_SPACE_PREFIX}${w.cluster}`,
    ...(conflict === undefined ? {} : { [CONFLICT_RESOLUTION_ANNOTATION]: conflict }),
  };
  const pruned = pruneIrrelevantFields(o);
  recordManaged(pruned, w.workId);
  return pruned;
}

/** objectWatcher.isManagedResource (pkg/util/objectwatcher/objectwatcher.go:303-305). */
export const isManaged = (member: any): boolean => member?.metadata?.labels?.[MANAGED_LABEL] === "true";

/**
 * objectWatcher.allowUpdate (objectwatcher.go:307-324): a member object Karmada does not manage is overwritten only
 * when the desired object says overwrite; else the update is refused with this message (lines 143-147).
 */
export function updateRefusal(desired: any, member: any, cluster: string): string | undefined {
  if (isManaged(member)) return undefined;
  if (desired.metadata?.annotations?.[CONFLICT_RESOLUTION_ANNOTATION] === "overwrite") return undefined;
  return (
    `resource(kind=${desired.kind}, ${desired.metadata?.namespace ?? ""}/${desired.metadata?.name}) already exists ` +
    `in the cluster ${cluster} and the ${CONFLICT_RESOLUTION_ANNOTATION} strategy value is empty, Karmada will not ` +
    "manage this resource"
  );
}

/** Keys recorded in the member's managed record that the desired object no longer has (annotation.go:77-83). */
function deletedKeys(desired: Record<string, string> | undefined, member: any, record: string): Set<string> {
  const keys = new Set<string>(String(member.metadata?.annotations?.[record] ?? "").split(","));
  for (const k of Object.keys(desired ?? {})) keys.delete(k);
  return keys;
}

/**
 * objectWatcher.retainClusterFields (objectwatcher.go:114-139) before an Update: the member's resourceVersion,
 * finalizers and ownerReferences; its labels and annotations that Karmada did not put there (util.RetainLabels,
 * RetainAnnotations: label.go:47-65, annotation.go:49-67); per kind (retain.go:36-47): a Service's clusterIP and
 * healthCheckNodePort (lifted/retain.go:38-82), a Deployment's replicas when it asks for it
 * (retainWorkloadReplicas, retain.go:145-163).
 */
export function retainClusterFields(desired: any, member: any): any {
  const d = structuredClone(desired);
  const m = member.metadata ?? {};
  d.metadata.resourceVersion = m.resourceVersion;
  if (m.finalizers !== undefined) d.metadata.finalizers = m.finalizers;
  if (m.ownerReferences !== undefined) d.metadata.ownerReferences = m.ownerReferences;
  const goneAnnotations = deletedKeys(d.metadata.annotations, member, MANAGED_ANNOTATIONS_ANNOTATION);
  for (const [k, v] of Object.entries((m.annotations ?? {}) as Record<string, string>))
    if (!goneAnnotations.has(k) && !(k in (d.metadata.annotations ?? {})))
      d.metadata.annotations = { ...d.metadata.annotations, [k]: v };
  const goneLabels = deletedKeys(d.metadata.labels, member, MANAGED_LABELS_ANNOTATION);
  for (const [k, v] of Object.entries((m.labels ?? {}) as Record<string, string>))
    if (!goneLabels.has(k) && !(k in (d.metadata.labels ?? {}))) d.metadata.labels = { ...d.metadata.labels, [k]: v };
  if (d.kind === "Service") {
    if (typeof member.spec?.clusterIP === "string" && member.spec.clusterIP !== "")
      d.spec = { ...d.spec, clusterIP: member.spec.clusterIP };
    if (member.spec?.healthCheckNodePort !== undefined)
      d.spec = { ...d.spec, healthCheckNodePort: member.spec.healthCheckNodePort };
  }
  if (d.kind === "Deployment" && d.metadata.labels?.[RETAIN_REPLICAS_LABEL] === "true")
    d.spec = { ...d.spec, replicas: member.spec?.replicas };
  return d;
}

/** lifted.ObjectVersion (pkg/util/lifted/objectwatcher.go:43-49): "gen:<generation>", else "rv:<resourceVersion>". */
export function objectVersion(member: any): string {
  const g = member.metadata?.generation ?? 0;
  return g !== 0 ? `gen:${g}` : `rv:${member.metadata?.resourceVersion ?? ""}`;
}
