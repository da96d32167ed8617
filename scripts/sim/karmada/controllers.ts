/**
 * A double of the Karmada v1.13.0 controllers (commit ecc12b4c) the testbed depends on, for a karmada-apiserver
 * that runs without karmada-controller-manager (scripts/sim/karmada/release.ts starts this next to it as
 * `testbed sim karmada-controllers --kubeconfig <file>`). It talks to REAL member clusters, through each Cluster's
 * spec.apiEndpoint and the token and CA of its secretRef, as Karmada does in push mode:
 *
 * - cluster controller: the karmada.io/cluster-controller finalizer, removed on deletion once the member's copies
 *   are gone (pkg/controllers/cluster/cluster_controller.go:223-239, 241-279, 381-407);
 * - cluster status controller: health (/readyz, then /healthz), the Ready condition with Karmada's reasons and
 *   thresholds, kubernetesVersion and apiEnablements (pkg/controllers/status/cluster_status_controller.go);
 * - detector: a PropagationPolicy claims the templates it selects (pkg/detector), and lets go of them when it stops
 *   selecting them or is deleted; the binding stays, as in Karmada (detector.go:1108-1137, policy.go:185-191);
 * - scheduler (Duplicated, clusterAffinity.clusterNames only): the Ready clusters of the placement that serve the
 *   kind (the APIEnablement filter);
 * - binding, execution and namespace sync controllers: the objects applied to, updated on and deleted from members
 *   (propagation.ts has the rules);
 * - status controllers: a Deployment's member status aggregated onto its template (status.ts).
 *
 * Not copied, said here: ResourceBinding and Work objects are kept in this process's memory, not written to the
 * Karmada API (their CRDs are not installed: components/karmada/fixtures holds PropagationPolicy's only); no
 * execution namespace karmada-es-<cluster> (nothing would fill it, and with no kube-controller-manager its deletion
 * would never finish); no taints, overrides, ClusterPropagationPolicy, dependencies distribution or failover.
 *
 * After a restart the bindings are made again from the claims, with the ids the member's copies carry; copies whose
 * template went meanwhile are found by their template uid and deleted (Karmada finds them through its Works).
 *
 * Karmada watches; this polls the Karmada API every `pollMs` (one list per kind per round) and the members for the
 * objects it propagated. A new or changed Cluster is checked in the next round, as Karmada's watch would have it;
 * then every CLUSTER_STATUS_UPDATE_FREQUENCY_MS, Karmada's default, kept in the sim: the first Ready does not wait
 * for it, and a shorter one would only hide the thresholds a rebooting member meets. It logs one line per action,
 * keeps going while an API does not answer, and runs until killed. The kubeconfig must embed its credentials
 * (kubeTarget reads the `*-data` fields and `token`).
 */
import { randomUUID } from "node:crypto";
import { type KubeTarget, kubeClient, kubeTarget } from "../../lib/kubeClient";
import { runDeletionControllers } from "../deletion";
import { Discovery, groupPath } from "../kube";
import {
  CLUSTER_FINALIZER,
  CONFLICT_RESOLUTION_ANNOTATION,
  MANAGED_LABEL,
  POLICY_FINALIZER,
  POLICY_NAMESPACE_ANNOTATION,
  POLICY_NAME_ANNOTATION,
  POLICY_PERMANENT_ID,
  TEMPLATE_UID_ANNOTATION,
  BINDING_PERMANENT_ID,
  WORK_PERMANENT_ID,
  type ResourceSelector,
  memberNamespace,
  memberObject,
  namespaceShouldBeSynced,
  objectVersion,
  policySelects,
  retainClusterFields,
  updateRefusal,
} from "./propagation";
import {
  type Condition,
  type MemberDeploymentStatus,
  STATUS_COLLECTION_FAILED,
  type ThresholdState,
  generateReadyCondition,
  reflectDeploymentStatus,
  setCondition,
  thresholdAdjusted,
  writeAggregatedStatus,
} from "./status";

/* eslint-disable @typescript-eslint/no-explicit-any -- API objects are arbitrary JSON */

/** karmada-controller-manager's --cluster-status-update-frequency default (options.go:169). */
export const CLUSTER_STATUS_UPDATE_FREQUENCY_MS = 10_000;
/** --cluster-success-threshold and --cluster-failure-threshold defaults (options.go:190-191). */
export const CLUSTER_SUCCESS_THRESHOLD_MS = 30_000;
export const CLUSTER_FAILURE_THRESHOLD_MS = 30_000;
/**
 * Time between polling rounds, standing in for Karmada's watches: its propagation and status aggregation react in
 * well under a second; a round costs a few lists on the Karmada API and one GET per propagated object.
 */
export const POLL_INTERVAL_MS = 1000;
const MERGE_PATCH = "application/merge-patch+json";
/** The field manager of Karmada's controllers' writes: client-go's default, the program's name. */
export const FIELD_MANAGER = "karmada-controller-manager";
/** Bound on one request to an API (the Karmada API or a member): an unreachable member costs this per round. */
export const API_TIMEOUT_MS = 10_000;

/** A Go duration of one unit as the controller-manager's flags take it ("10s", "500ms", "1m"); undefined if not. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text.trim());
  if (m === null) return text.trim() === "0" ? 0 : undefined;
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as "ms" | "s" | "m" | "h"];
}

export interface ControllersOptions {
  /** The Karmada API's admin kubeconfig, as text (a secret: never logged). */
  kubeconfig: string;
  /** Defaults to POLL_INTERVAL_MS. */
  pollMs?: number;
  /** Defaults to CLUSTER_STATUS_UPDATE_FREQUENCY_MS. */
  statusUpdateFrequencyMs?: number;
  /** Defaults to CLUSTER_SUCCESS_THRESHOLD_MS. */
  successThresholdMs?: number;
  /** Defaults to CLUSTER_FAILURE_THRESHOLD_MS. */
  failureThresholdMs?: number;
  /** One line per action. Defaults to stdout with a timestamp. */
  log?: (line: string) => void;
}

interface Api {
  request(method: string, path: string, body?: unknown, contentType?: string): Promise<{ status: number; body: any }>;
  close(): void;
}

/** A client of an API on kubeClient's request layer: every answer whatever its status; no answer throws. */
function api(target: KubeTarget): Api {
  const c = kubeClient(target, API_TIMEOUT_MS);
  return {
    request: async (method, path, body, contentType) => {
      // Writes recorded under the manager client-go names after Karmada's binary (metadata.managedFields).
      const writes = method === "POST" || method === "PUT" || method === "PATCH";
      const url = writes ? `${path}${path.includes("?") ? "&" : "?"}fieldManager=${FIELD_MANAGER}` : path;
      const r = await c.send(method, url, body, contentType ?? (method === "PATCH" ? MERGE_PATCH : undefined));
      return { status: r.status, body: r.json ?? r.text };
    },
    close: () => c.close(),
  };
}

const keyOf = (o: any) => `${o.apiVersion}/${o.kind}/${o.metadata?.namespace ?? ""}/${o.metadata?.name}`;
const describe = (o: any) =>
  `${o.kind} ${o.metadata?.namespace === undefined ? "" : `${o.metadata.namespace}/`}${o.metadata?.name}`;
const isReady = (c: any) =>
  (c?.status?.conditions ?? []).some((x: Condition) => x.type === "Ready" && x.status === "True");
const errText = (e: unknown) => (e as Error).message;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Discovery of one API (the member's or Karmada's), kept until forgotten: the sim engine's (kube.ts). */
const discoveryOf = (a: Api) =>
  new Discovery(async (path: string) => {
    const r = await a.request("GET", path);
    return { status: r.status, json: r.body };
  });

/** An object's URL path (its collection's without `withName`), once the API serves its kind. */
const pathIn = (d: Discovery, o: any, withName = true): Promise<string | undefined> =>
  d.pathOf(o.apiVersion, o.kind, withName ? o.metadata.name : undefined, o.metadata.namespace);

/** A ResourceBinding, kept in memory: the template, the clusters it was scheduled to, the ids of its Works. */
interface Binding {
  ref: { apiVersion: string; kind: string; metadata: { namespace: string; name: string } };
  uid: string;
  id: string;
  clusters: Set<string>;
  workIds: Map<string, string>;
  /** Clusters dropped from the binding whose copy is still to delete. */
  leaving: Set<string>;
  conflictResolution: "Abort" | "Overwrite";
  /** Member statuses as last reflected (the Work's status), by cluster. */
  statuses: Map<string, MemberDeploymentStatus | undefined>;
}

interface Member {
  key: string;
  api: Api;
  discovery: Discovery;
}

export interface KarmadaControllers {
  /** Resolves after the round in progress; every connection closed. */
  stop(): Promise<void>;
}

export function startKarmadaControllers(opts: ControllersOptions): KarmadaControllers {
  const log = opts.log ?? ((line: string) => process.stdout.write(`${new Date().toISOString()} ${line}\n`));
  const pollMs = opts.pollMs ?? POLL_INTERVAL_MS;
  const frequencyMs = opts.statusUpdateFrequencyMs ?? CLUSTER_STATUS_UPDATE_FREQUENCY_MS;
  const successMs = opts.successThresholdMs ?? CLUSTER_SUCCESS_THRESHOLD_MS;
  const failureMs = opts.failureThresholdMs ?? CLUSTER_FAILURE_THRESHOLD_MS;
  const t = kubeTarget(opts.kubeconfig, "the Karmada kubeconfig");
  const karmada = api(t);
  const karmadaDiscovery = discoveryOf(karmada);

  const bindings = new Map<string, Binding>();
  const members = new Map<string, Member>();
  const thresholds = new Map<string, ThresholdState>();
  const nextStatusSync = new Map<string, { at: number; generation: number; uid: string }>();
  const statusInFlight = new Map<string, Promise<void>>();
  const enablements = new Map<string, Set<string>>();
  const versions = new Map<string, { hash: string; version: string }>();
  const syncedNamespaces = new Map<string, Set<string>>();
  const namespaceWorkIds = new Map<string, string>();
  const swept = new Set<string>();
  /** The last error logged per subject, so a failure that repeats every round is logged once. */
  const lastError = new Map<string, string>();
  let running = true;

  const fail = (subject: string, message: string) => {
    if (lastError.get(subject) === message) return;
    lastError.set(subject, message);
    log(`${subject}: ${message}`);
  };
  const recovered = (subject: string, line?: string) => {
    if (lastError.delete(subject) && line !== undefined) log(`${subject}: ${line}`);
  };

  /** BuildClusterConfig (pkg/util/membercluster_client.go:172-231): its errors are the controller's messages. */
  const memberOf = async (cluster: any): Promise<Member> => {
    const name = cluster.metadata.name;
    const endpoint: string = cluster.spec?.apiEndpoint ?? "";
    if (endpoint === "") throw new Error(`the api endpoint of cluster ${name} is empty`);
    const ref = cluster.spec?.secretRef;
    if (ref === undefined) throw new Error(`cluster ${name} does not have a secret`);
    const s = await karmada.request("GET", `/api/v1/namespaces/${ref.namespace}/secrets/${ref.name}`);
    if (s.status !== 200) throw new Error(s.body?.message ?? `secret ${ref.namespace}/${ref.name}: HTTP ${s.status}`);
    const data = s.body.data ?? {};
    const token = Buffer.from(data.token ?? "", "base64").toString("utf8");
    if (token === "") throw new Error(`the secret for cluster ${name} is missing a non-empty value for "token"`);
    const insecure = cluster.spec?.insecureSkipTLSVerification === true;
    if (!insecure && data.caBundle === undefined)
      throw new Error(`the secret for cluster ${name} is missing the CA data key "caBundle"`);
    const ca = insecure ? undefined : Buffer.from(data.caBundle, "base64").toString("utf8");
    const key = JSON.stringify([endpoint, token, ca, insecure]);
    const known = members.get(name);
    if (known?.key === key) return known;
    known?.api.close();
    const server = endpoint.replace(/\/+$/, "");
    const url = new URL(server);
    const a = api({
      server,
      hostPort: `${url.hostname}:${url.port === "" ? "443" : url.port}`,
      ca,
      token,
      insecure,
    });
    const m = { key, api: a, discovery: discoveryOf(a) };
    members.set(name, m);
    return m;
  };

  /** helper.UpdateStatus with retry.RetryOnConflict: the Cluster read again, changed, written to /status. */
  const updateClusterStatus = async (name: string, change: (status: any) => void): Promise<any> => {
    for (let i = 0; i < 5; i++) {
      const c = await karmada.request("GET", `/apis/cluster.karmada.io/v1alpha1/clusters/${name}`);
      if (c.status !== 200) return undefined;
      const before = JSON.stringify(c.body.status ?? {});
      const status = structuredClone(c.body.status ?? {});
      change(status);
      if (JSON.stringify(status) === before) return c.body;
      const r = await karmada.request("PUT", `/apis/cluster.karmada.io/v1alpha1/clusters/${name}/status`, {
        ...c.body,
        status,
      });
      if (r.status === 200) return r.body;
      if (r.status !== 409) throw new Error(`status of Cluster ${name}: HTTP ${r.status}: ${r.body?.message}`);
    }
    return undefined;
  };

  /** getClusterHealthStatus and healthEndpointCheck (cluster_status_controller.go:436-460). */
  const health = async (m: Member): Promise<{ online: boolean; healthy: boolean }> => {
    let r: { status: number };
    try {
      r = await m.api.request("GET", "/readyz");
      if (r.status === 404) r = await m.api.request("GET", "/healthz");
    } catch {
      return { online: false, healthy: false };
    }
    // client-go's Result.Error() is an error for any status outside 200-206: such an answer is "offline" there.
    if (r.status < 200 || r.status > 206) return { online: false, healthy: false };
    return { online: true, healthy: r.status === 200 };
  };

  /** getAPIEnablements (cluster_status_controller.go:484-517): every group version, its resources sorted. */
  const apiEnablements = async (m: Member): Promise<{ groupVersion: string; resources: object[] }[]> => {
    const gvs: string[] = [];
    const core = await m.api.request("GET", "/api");
    for (const v of core.body?.versions ?? []) gvs.push(v);
    const groups = await m.api.request("GET", "/apis");
    for (const g of groups.body?.groups ?? []) for (const v of g.versions ?? []) gvs.push(v.groupVersion);
    const out: { groupVersion: string; resources: { name: string; kind: string }[] }[] = [];
    for (const gv of gvs) {
      const r = await m.api.request("GET", groupPath(gv));
      if (r.status !== 200) continue;
      const resources = (r.body.resources as { name: string; kind: string }[])
        .filter((x) => !x.name.includes("/"))
        .map((x) => ({ name: x.name, kind: x.kind }))
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      out.push({ groupVersion: gv, resources });
    }
    return out.sort((a, b) => (a.groupVersion < b.groupVersion ? -1 : a.groupVersion > b.groupVersion ? 1 : 0));
  };

  /** syncClusterStatus (cluster_status_controller.go:182-227). */
  const syncClusterStatus = async (cluster: any): Promise<void> => {
    const name: string = cluster.metadata.name;
    const now = new Date();
    let m: Member;
    try {
      m = await memberOf(cluster);
    } catch (err) {
      const condition = {
        type: "Ready",
        status: "False" as const,
        reason: STATUS_COLLECTION_FAILED,
        message: `failed to create a ClusterClient: ${errText(err)}`,
      };
      await updateClusterStatus(name, (s) => (s.conditions = setCondition(s.conditions, condition, now)));
      log(`Cluster ${name}: Ready=False ${STATUS_COLLECTION_FAILED}: ${condition.message}`);
      return;
    }
    const { online, healthy } = await health(m);
    const observed = generateReadyCondition(online, healthy);
    const current = (cluster.status?.conditions ?? []).find((c: Condition) => c.type === "Ready");
    const adjusted = thresholdAdjusted(thresholds.get(name), current, observed, Date.now(), successMs, failureMs);
    thresholds.set(name, adjusted.state);
    const ready = adjusted.condition;
    const conditions: Omit<Condition, "lastTransitionTime">[] = [];
    let version: string | undefined;
    let enabled: { groupVersion: string; resources: object[] }[] | undefined;
    if (online && healthy && ready.status === "True") {
      // setCurrentClusterStatus (lines 235-286): the version and the APIs; resource modeling is off by default.
      m.discovery.forget();
      try {
        const v = await m.api.request("GET", "/version");
        version = v.status === 200 ? (v.body.gitVersion ?? "") : "";
      } catch {
        version = "";
      }
      try {
        enabled = await apiEnablements(m);
        conditions.push({
          type: "CompleteAPIEnablements",
          status: "True",
          reason: "Complete",
          message: "collected complete APIEnablements from the cluster",
        });
      } catch {
        enabled = [];
        conditions.push({
          type: "CompleteAPIEnablements",
          status: "False",
          reason: "Empty",
          message: "collected empty APIEnablements from the cluster",
        });
      }
      enablements.set(
        name,
        new Set(enabled.flatMap((e) => (e.resources as { kind: string }[]).map((r) => `${e.groupVersion}/${r.kind}`))),
      );
    }
    conditions.push(ready);
    const written = await updateClusterStatus(name, (s) => {
      if (version !== undefined) s.kubernetesVersion = version;
      if (enabled !== undefined) s.apiEnablements = enabled;
      for (const c of conditions) s.conditions = setCondition(s.conditions, c, now);
    });
    const before = current === undefined ? undefined : `${current.status} ${current.reason}`;
    if (before !== `${ready.status} ${ready.reason}`)
      log(`Cluster ${name}: Ready=${ready.status} ${ready.reason}: ${ready.message}`);
    if (written === undefined) fail(`Cluster ${name}`, "gone before its status was written");
  };

  /** The member copies of a cluster's bindings, deleted (the execution controller on the Works' deletion). */
  const deleteFromMember = async (m: Member, cluster: string, o: any): Promise<boolean> => {
    const p = await pathIn(m.discovery, o);
    if (p === undefined) return true;
    const live = await m.api.request("GET", p);
    if (live.status === 404) return true;
    if (live.status !== 200) throw new Error(`GET ${describe(o)}: HTTP ${live.status}: ${live.body?.message}`);
    // objectwatcher.go:196-200: what Karmada does not manage is left alone.
    if (live.body.metadata?.labels?.[MANAGED_LABEL] !== "true") return true;
    // objectwatcher.go:214-224: background propagation.
    const r = await m.api.request("DELETE", p, { propagationPolicy: "Background" });
    if (r.status !== 200 && r.status !== 202 && r.status !== 404)
      throw new Error(`DELETE ${describe(o)}: HTTP ${r.status}: ${r.body?.message}`);
    log(`${cluster}: deleted ${describe(o)}`);
    versions.delete(`${cluster}/${keyOf(o)}`);
    return true;
  };

  /** tryCreateOrUpdateWorkload (pkg/controllers/execution/execution_controller.go) through the objectWatcher. */
  const applyToMember = async (m: Member, cluster: string, desired: any): Promise<any> => {
    const subject = `${cluster}: ${describe(desired)}`;
    const p = await pathIn(m.discovery, desired);
    if (p === undefined) {
      fail(subject, `the member does not serve ${desired.apiVersion} ${desired.kind}`);
      return undefined;
    }
    const hash = JSON.stringify(desired);
    const recordKey = `${cluster}/${keyOf(desired)}`;
    const live = await m.api.request("GET", p);
    if (live.status === 404) {
      const collection = (await pathIn(m.discovery, desired, false)) as string;
      const r = await m.api.request("POST", collection, desired);
      if (r.status !== 201) {
        fail(subject, `create: HTTP ${r.status}: ${r.body?.message}`);
        return undefined;
      }
      versions.set(recordKey, { hash, version: objectVersion(r.body) });
      recovered(subject);
      log(`${cluster}: created ${describe(desired)}`);
      return r.body;
    }
    if (live.status !== 200) throw new Error(`GET ${describe(desired)}: HTTP ${live.status}: ${live.body?.message}`);
    const refusal = updateRefusal(desired, live.body, cluster);
    if (refusal !== undefined) {
      fail(subject, refusal);
      return live.body;
    }
    // objectWatcher.NeedsUpdate (lifted/objectwatcher.go:56-67): the member changed since the last write, or the
    // desired object did (a new Work manifest).
    const record = versions.get(recordKey);
    if (record !== undefined && record.hash === hash && record.version === objectVersion(live.body)) return live.body;
    const r = await m.api.request("PUT", p, retainClusterFields(desired, live.body));
    if (r.status !== 200) {
      fail(subject, `update: HTTP ${r.status}: ${r.body?.message}`);
      return live.body;
    }
    versions.set(recordKey, { hash, version: objectVersion(r.body) });
    recovered(subject);
    if (
      record === undefined ||
      record.hash !== hash ||
      r.body.metadata?.resourceVersion !== live.body.metadata?.resourceVersion
    )
      log(`${cluster}: updated ${describe(desired)}`);
    return r.body;
  };

  const listKarmada = async (apiVersion: string, kind: string, namespace?: string): Promise<any[]> => {
    const res = await karmadaDiscovery.resourceOf(apiVersion, kind);
    if (res === undefined) return [];
    const ns = res.namespaced && namespace !== undefined ? `/namespaces/${namespace}` : "";
    const r = await karmada.request("GET", `${groupPath(apiVersion)}${ns}/${res.resource}`);
    if (r.status !== 200) throw new Error(`list ${kind}: HTTP ${r.status}: ${r.body?.message}`);
    return (r.body.items as any[]).map((x) => ({ apiVersion, kind, ...x }));
  };

  const patchKarmada = async (o: any, patch: object, what: string): Promise<boolean> => {
    const p = await pathIn(karmadaDiscovery, o);
    if (p === undefined) return false;
    const r = await karmada.request("PATCH", p, patch);
    if (r.status !== 200) {
      fail(`${describe(o)}`, `${what}: HTTP ${r.status}: ${r.body?.message}`);
      return false;
    }
    log(`${describe(o)}: ${what}`);
    return true;
  };

  /** The claim metadata of a policy removed from a template (detector.go CleanupResourceTemplateClaimMetadata). */
  const unclaim = (template: any) =>
    patchKarmada(
      template,
      {
        metadata: {
          labels: { [POLICY_PERMANENT_ID]: null },
          annotations: { [POLICY_NAMESPACE_ANNOTATION]: null, [POLICY_NAME_ANNOTATION]: null },
        },
      },
      "released by its PropagationPolicy",
    );

  const round = async (): Promise<void> => {
    const clusters = await listKarmada("cluster.karmada.io/v1alpha1", "Cluster");
    const byName = new Map(clusters.map((c) => [c.metadata.name, c]));
    const readyMembers = new Map<string, Member>();
    for (const c of clusters) {
      const name: string = c.metadata.name;
      if (c.metadata.deletionTimestamp !== undefined) continue;
      if (!(c.metadata.finalizers ?? []).includes(CLUSTER_FINALIZER)) {
        // ensureFinalizer (cluster_controller.go:395-407); the status controller waits for it (lines 154-158).
        const ok = await patchKarmada(
          c,
          {
            metadata: {
              resourceVersion: c.metadata.resourceVersion,
              finalizers: [...(c.metadata.finalizers ?? []), CLUSTER_FINALIZER],
            },
          },
          `finalizer ${CLUSTER_FINALIZER} added`,
        );
        if (!ok) continue;
      }
      const due = nextStatusSync.get(name);
      const changed = due === undefined || due.uid !== c.metadata.uid || due.generation !== c.metadata.generation;
      if (!statusInFlight.has(name) && (changed || Date.now() >= due.at)) {
        if (due?.uid !== c.metadata.uid) thresholds.delete(name);
        nextStatusSync.set(name, {
          at: Date.now() + frequencyMs,
          generation: c.metadata.generation,
          uid: c.metadata.uid,
        });
        // Health checks of an unreachable member wait up to API_TIMEOUT_MS: they do not hold up the round.
        statusInFlight.set(
          name,
          syncClusterStatus(c)
            .catch((err) => fail(`Cluster ${name}`, `status: ${errText(err)}`))
            .finally(() => statusInFlight.delete(name)),
        );
      }
      if (isReady(c)) {
        try {
          readyMembers.set(name, await memberOf(c));
        } catch (err) {
          fail(`Cluster ${name}`, errText(err));
        }
      }
    }
    for (const name of [...nextStatusSync.keys()]) if (!byName.has(name)) nextStatusSync.delete(name);

    // Namespaces first: the objects in them are refused by a member until they exist.
    const namespaces = (await listKarmada("v1", "Namespace")).filter(namespaceShouldBeSynced);
    const wanted = new Set(namespaces.map((n) => n.metadata.name));
    for (const [cluster, m] of readyMembers) {
      const done = syncedNamespaces.get(cluster) ?? new Set<string>();
      syncedNamespaces.set(cluster, done);
      try {
        for (const ns of namespaces) {
          const k = `${cluster}/${ns.metadata.uid}`;
          const workId = namespaceWorkIds.get(k) ?? randomUUID();
          namespaceWorkIds.set(k, workId);
          if ((await applyToMember(m, cluster, memberNamespace(ns, { cluster, workId }))) !== undefined)
            done.add(ns.metadata.name);
        }
        for (const name of [...done])
          if (!wanted.has(name)) {
            // The namespace's Work is owned by it (namespace_sync_controller.go:151-157): gone from the Karmada API,
            // its copy goes; one being deleted is left until it is gone (lines 83-87).
            const gone = await karmada.request("GET", `/api/v1/namespaces/${name}`);
            if (
              gone.status === 404 &&
              (await deleteFromMember(m, cluster, { apiVersion: "v1", kind: "Namespace", metadata: { name } }))
            )
              done.delete(name);
          }
        recovered(`Cluster ${cluster} (namespaces)`);
      } catch (err) {
        fail(`Cluster ${cluster} (namespaces)`, errText(err));
        readyMembers.delete(cluster);
      }
    }

    // Detector and scheduler: policies claim templates, bindings get their clusters.
    const policies = await listKarmada("policy.karmada.io/v1alpha1", "PropagationPolicy");
    const templates = new Map<string, any[]>();
    const templatesOf = async (rs: ResourceSelector, namespace: string) => {
      const k = `${rs.apiVersion}/${rs.kind}/${namespace}`;
      if (!templates.has(k)) templates.set(k, await listKarmada(rs.apiVersion, rs.kind, namespace));
      return templates.get(k) as any[];
    };
    for (const policy of policies) {
      let id: string | undefined = policy.metadata.labels?.[POLICY_PERMANENT_ID];
      const selectors = (policy.spec?.resourceSelectors ?? []) as ResourceSelector[];
      const ns: string = policy.metadata.namespace;
      const claimedByIt = async () => {
        const out: any[] = [];
        for (const rs of selectors)
          for (const tpl of await templatesOf(rs, ns))
            if (id !== undefined && tpl.metadata.labels?.[POLICY_PERMANENT_ID] === id) out.push(tpl);
        return out;
      };
      if (policy.metadata.deletionTimestamp !== undefined) {
        // HandlePropagationPolicyDeletion (detector.go:1108-1137): the claims go, the bindings stay.
        for (const tpl of await claimedByIt()) await unclaim(tpl);
        if ((policy.metadata.finalizers ?? []).includes(POLICY_FINALIZER))
          await patchKarmada(
            policy,
            {
              metadata: {
                resourceVersion: policy.metadata.resourceVersion,
                finalizers: (policy.metadata.finalizers as string[]).filter((f) => f !== POLICY_FINALIZER),
              },
            },
            `finalizer ${POLICY_FINALIZER} removed`,
          );
        continue;
      }
      if (id === undefined || !(policy.metadata.finalizers ?? []).includes(POLICY_FINALIZER)) {
        // The policy's mutating webhook (pkg/webhook/propagationpolicy/mutating.go:94-97), done here afterwards.
        const newId = id ?? randomUUID();
        const ok = await patchKarmada(
          policy,
          {
            metadata: {
              resourceVersion: policy.metadata.resourceVersion,
              labels: { [POLICY_PERMANENT_ID]: newId },
              finalizers: [...new Set([...(policy.metadata.finalizers ?? []), POLICY_FINALIZER])],
            },
          },
          "permanent id and finalizer added",
        );
        if (!ok) continue;
        id = newId;
      }
      const placement: string[] = policy.spec?.placement?.clusterAffinity?.clusterNames ?? [];
      // Each template once, however many selectors name its kind.
      const candidates = new Map<string, any>();
      for (const rs of selectors) for (const tpl of await templatesOf(rs, ns)) candidates.set(keyOf(tpl), tpl);
      for (const tpl of candidates.values()) {
        const owner = tpl.metadata.labels?.[POLICY_PERMANENT_ID];
        if (!policySelects(policy, tpl)) {
          // policy.go:185-191: a template the policy no longer selects is released; its binding stays.
          if (owner === id && (await unclaim(tpl))) delete tpl.metadata.labels[POLICY_PERMANENT_ID];
          continue;
        }
        if (owner !== undefined && owner !== id) continue; // claimed by another policy: preemption is Never
        if (owner === undefined) {
          // ClaimPolicyForObject (detector.go:693-708) with AddPPClaimMetadata (pkg/detector/claim.go:43-53).
          const ok = await patchKarmada(
            tpl,
            {
              metadata: {
                labels: { [POLICY_PERMANENT_ID]: id },
                annotations: { [POLICY_NAMESPACE_ANNOTATION]: ns, [POLICY_NAME_ANNOTATION]: policy.metadata.name },
              },
            },
            `claimed by PropagationPolicy ${ns}/${policy.metadata.name}`,
          );
          if (!ok) continue;
          tpl.metadata.labels = { ...tpl.metadata.labels, [POLICY_PERMANENT_ID]: id };
        }
        const key = keyOf(tpl);
        let b = bindings.get(key);
        if (b === undefined || b.uid !== tpl.metadata.uid) {
          b = {
            ref: { apiVersion: tpl.apiVersion, kind: tpl.kind, metadata: { namespace: ns, name: tpl.metadata.name } },
            uid: tpl.metadata.uid,
            id: randomUUID(),
            clusters: new Set(),
            workIds: new Map(),
            leaving: new Set(),
            conflictResolution: "Abort",
            statuses: new Map(),
          };
          bindings.set(key, b);
        }
        b.conflictResolution = policy.spec?.conflictResolution === "Overwrite" ? "Overwrite" : "Abort";
        // Duplicated scheduling on clusterNames: a placed cluster stays while the placement names it; a new one
        // is taken when it is Ready and serves the kind (the scheduler's APIEnablement filter).
        for (const c of [...b.clusters])
          if (!placement.includes(c)) {
            b.clusters.delete(c);
            b.leaving.add(c);
            log(`${describe(tpl)}: unscheduled from ${c}`);
          }
        for (const c of placement) {
          const cl = byName.get(c);
          if (b.clusters.has(c) || cl === undefined || cl.metadata.deletionTimestamp !== undefined || !isReady(cl))
            continue;
          const apis = enablements.get(c);
          if (apis !== undefined && !apis.has(`${tpl.apiVersion}/${tpl.kind}`)) continue;
          b.clusters.add(c);
          b.leaving.delete(c);
          log(`${describe(tpl)}: scheduled to ${c}`);
        }
      }
    }

    // Binding and execution controllers, then status aggregation.
    for (const [key, b] of bindings) {
      const p = (await pathIn(karmadaDiscovery, b.ref)) as string;
      const tr = await karmada.request("GET", p);
      const template = tr.status === 200 && tr.body.metadata.uid === b.uid ? tr.body : undefined;
      if (tr.status !== 200 && tr.status !== 404) throw new Error(`GET ${describe(b.ref)}: HTTP ${tr.status}`);
      // A deleted template: its binding goes (garbage collection), and its Works with it.
      const removeFrom = template === undefined ? new Set([...b.clusters, ...b.leaving]) : b.leaving;
      for (const c of [...removeFrom]) {
        const m = readyMembers.get(c);
        if (m === undefined) continue; // the execution controller waits for a Ready cluster
        try {
          if (await deleteFromMember(m, c, b.ref)) {
            removeFrom.delete(c);
            b.clusters.delete(c);
            b.leaving.delete(c);
            b.statuses.delete(c);
          }
        } catch (err) {
          fail(`${c}: ${describe(b.ref)}`, errText(err));
        }
      }
      if (template === undefined) {
        if (removeFrom.size === 0) bindings.delete(key);
        continue;
      }
      for (const c of b.clusters) {
        const m = readyMembers.get(c);
        if (m === undefined) continue;
        let workId = b.workIds.get(c);
        try {
          if (workId === undefined) {
            // After a restart: the ids the member's copy carries, as the Work and binding in the API would keep them.
            const mp = await pathIn(m.discovery, b.ref);
            const live = mp === undefined ? undefined : await m.api.request("GET", mp);
            if (live?.status === 200 && live.body.metadata?.annotations?.[TEMPLATE_UID_ANNOTATION] === b.uid) {
              workId = live.body.metadata.labels?.[WORK_PERMANENT_ID] as string | undefined;
              b.id = (live.body.metadata.labels?.[BINDING_PERMANENT_ID] as string | undefined) ?? b.id;
            }
            workId ??= randomUUID();
            b.workIds.set(c, workId);
          }
          const desired = memberObject(template, {
            cluster: c,
            bindingId: b.id,
            workId,
            conflictResolution: b.conflictResolution,
          });
          const live = await applyToMember(m, c, desired);
          // The work status controller reflects the member's status into the Work (reflectstatus.go).
          if (live !== undefined && b.ref.kind === "Deployment") b.statuses.set(c, reflectDeploymentStatus(live));
          recovered(`${c}: ${describe(b.ref)}`);
        } catch (err) {
          fail(`${c}: ${describe(b.ref)}`, errText(err));
        }
      }
      // The binding status controller aggregates the Works that exist (pkg/util/helper/workstatus.go:58-97): the
      // clusters scheduled and those whose copy is still to delete; none at all is an aggregate of nothing.
      if (b.ref.kind === "Deployment") {
        const items = [...b.clusters, ...b.leaving].map((c) => ({ clusterName: c, status: b.statuses.get(c) }));
        const written = await writeAggregatedStatus(
          (method, path, body) => karmada.request(method, path, body),
          p,
          items,
        );
        if (written !== undefined)
          log(
            `${describe(b.ref)}: status aggregated: observedGeneration ${written.observedGeneration ?? 0}, ` +
              `${written.availableReplicas ?? 0}/${written.replicas ?? 0} available, ${written.updatedReplicas ?? 0} updated`,
          );
      }
    }

    // Once per member and process: what Karmada keeps in its ResourceBindings and Works, which live in the API and
    // here lived in the previous process's memory, found again from the member's managed objects (one labelled list
    // per kind it serves) and their template's uid: a copy whose template went is deleted, one whose
    // template is there but claimed by no policy keeps its binding.
    for (const [cluster, m] of readyMembers) {
      if (swept.has(cluster)) continue;
      try {
        const kinds = new Map<string, { apiVersion: string; kind: string }>([
          ["v1/Namespace", { apiVersion: "v1", kind: "Namespace" }],
        ]);
        for (const policy of policies)
          for (const rs of (policy.spec?.resourceSelectors ?? []) as ResourceSelector[])
            kinds.set(`${rs.apiVersion}/${rs.kind}`, { apiVersion: rs.apiVersion, kind: rs.kind });
        // Every kind the member serves (its Cluster's apiEnablements): a policy deleted meanwhile names none.
        for (const e of (byName.get(cluster)?.status?.apiEnablements ?? []) as {
          groupVersion: string;
          resources?: { kind: string }[];
        }[])
          for (const r of e.resources ?? [])
            kinds.set(`${e.groupVersion}/${r.kind}`, { apiVersion: e.groupVersion, kind: r.kind });
        const known = new Set([...bindings.values()].map((b) => b.uid));
        for (const { apiVersion, kind } of kinds.values()) {
          const res = await m.discovery.resourceOf(apiVersion, kind);
          if (res === undefined) continue;
          const list = await m.api.request(
            "GET",
            `${groupPath(apiVersion)}/${res.resource}?labelSelector=${MANAGED_LABEL}%3Dtrue`,
          );
          if (list.status === 404 || list.status === 405) continue; // a kind that cannot be listed (TokenReview)
          if (list.status !== 200) throw new Error(`list ${kind}: HTTP ${list.status}: ${list.body?.message}`);
          for (const item of list.body.items as any[]) {
            const o = { apiVersion, kind, metadata: item.metadata };
            const uid = item.metadata.annotations?.[TEMPLATE_UID_ANNOTATION];
            if (uid === undefined || known.has(uid)) continue;
            const tp = await pathIn(karmadaDiscovery, o);
            const tr = tp === undefined ? undefined : await karmada.request("GET", tp);
            if (tr !== undefined && tr.status !== 404 && tr.status !== 200) continue; // cannot judge: next process
            if (tr === undefined || tr.status === 404 || tr.body.metadata.uid !== uid) {
              await deleteFromMember(m, cluster, o);
              continue;
            }
            // The template is there and no policy claims it any more: its binding lives on in Karmada, so here too.
            if (kind === "Namespace") continue;
            const key = keyOf(o);
            const labels = item.metadata.labels ?? {};
            const b: Binding = bindings.get(key) ?? {
              ref: { apiVersion, kind, metadata: { namespace: item.metadata.namespace, name: item.metadata.name } },
              uid,
              id: labels[BINDING_PERMANENT_ID] ?? randomUUID(),
              clusters: new Set(),
              workIds: new Map(),
              leaving: new Set(),
              conflictResolution:
                item.metadata.annotations?.[CONFLICT_RESOLUTION_ANNOTATION] === "overwrite" ? "Overwrite" : "Abort",
              statuses: new Map(),
            };
            b.clusters.add(cluster);
            if (labels[WORK_PERMANENT_ID] !== undefined) b.workIds.set(cluster, labels[WORK_PERMANENT_ID]);
            bindings.set(key, b);
            log(`${describe(o)}: binding to ${cluster} taken up from its copy there`);
          }
        }
        swept.add(cluster);
      } catch (err) {
        fail(`Cluster ${cluster} (copies of deleted templates)`, errText(err));
      }
    }

    // removeCluster (cluster_controller.go:241-279): the member's copies go (the execution space and its Works),
    // then the finalizer.
    for (const c of clusters) {
      if (c.metadata.deletionTimestamp === undefined || !(c.metadata.finalizers ?? []).includes(CLUSTER_FINALIZER))
        continue;
      const name: string = c.metadata.name;
      let m: Member | undefined;
      try {
        m = isReady(c) ? await memberOf(c) : undefined;
      } catch {
        m = undefined;
      }
      for (const b of bindings.values())
        if (b.clusters.has(name) || b.leaving.has(name)) {
          if (m !== undefined)
            await deleteFromMember(m, name, b.ref).catch((err) => fail(`${name}: ${describe(b.ref)}`, errText(err)));
          b.clusters.delete(name);
          b.leaving.delete(name);
          b.statuses.delete(name);
        }
      members.get(name)?.api.close();
      members.delete(name);
      thresholds.delete(name);
      enablements.delete(name);
      syncedNamespaces.delete(name);
      swept.delete(name);
      await patchKarmada(
        c,
        {
          metadata: {
            resourceVersion: c.metadata.resourceVersion,
            finalizers: (c.metadata.finalizers as string[]).filter((f) => f !== CLUSTER_FINALIZER),
          },
        },
        `finalizer ${CLUSTER_FINALIZER} removed`,
      );
    }
  };

  const loop = (async () => {
    log(
      `karmada controllers double: polling ${t.hostPort} every ${pollMs} ms; cluster status every ${frequencyMs} ms, ` +
        `thresholds ${successMs}/${failureMs} ms`,
    );
    while (running) {
      try {
        await round();
        recovered("Karmada API", "answers again");
      } catch (err) {
        fail("Karmada API", errText(err));
      }
      await sleep(pollMs);
    }
  })();

  // Karmada's kube-controller-manager runs the namespace controller and the garbage collector on the Karmada API
  // (charts/karmada/templates/kube-controller-manager.yaml:58, values.yaml:622 namespace,garbagecollector,...): deletion.ts.
  const deletionStop = new AbortController();
  const deletionClient = kubeClient(t, API_TIMEOUT_MS);
  const deletion = runDeletionControllers(deletionClient, { signal: deletionStop.signal, log });

  return {
    stop: async () => {
      running = false;
      deletionStop.abort();
      await deletion;
      deletionClient.close();
      await loop;
      await Promise.allSettled([...statusInFlight.values()]);
      karmada.close();
      for (const m of members.values()) m.api.close();
    },
  };
}
