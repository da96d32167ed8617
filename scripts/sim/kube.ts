/**
 * The sim engine's Kubernetes provider: what pulumi-kubernetes (provider module v4.0.0-20260115033456-f47bc2d6f199,
 * the version the Go module proxy serves; paths below are under its provider/pkg) does with the program's objects,
 * sent to the sim clusters' real kube-apiservers. No part of it is kinder than the provider:
 * - create and update are a server-side apply (PATCH application/apply-patch+yaml) under a field manager
 *   `pulumi-kubernetes-<random>` chosen once per resource and kept in the state (provider/provider.go
 *   fieldManagerName, lines 2472-2496), forced only by the `pulumi.com/patchForce` annotation
 *   (await/await.go patchForce), with field validation Warn (await.go:190); a create that meets a missing namespace
 *   or kind is retried 5 times, backing off by 2 (await.go:150-260, retrier on IsNotFound and IsNoMatchError);
 * - the await after it: `pulumi.com/skipAwait` none; `pulumi.com/waitFor` (a `jsonpath=` or `condition=`
 *   expression, or a JSON array of them, all of which must hold: metadata/overrides.go:80-153), with the jsonpath
 *   wait's observedGeneration check (await/condition/jsonpath.go Satisfied) and the condition's
 *   (await/condition/kubectl.go checkCondition); otherwise the built-in awaiter of the kind: this engine has the
 *   Deployment's (await/deployment.go: the Available condition True and the Progressing condition with reason
 *   NewReplicaSetAvailable, at the current generation) and the Service's for a non-LoadBalancer Service, which
 *   succeeds once no endpoint is pending (await/service.go:410-416); bounded by `pulumi.com/timeoutSeconds`, 10
 *   minutes by default (await.go:272-277);
 * - reads (`.get`) GET the object and fail when it is not there;
 * - delete is a DELETE with propagationPolicy Foreground unless `pulumi.com/deletionPropagation` says otherwise
 *   (metadata/overrides.go:68-78), then a wait, bounded the same way, until the object is gone (await.go:830-900):
 *   a namespace or an object with dependents goes only once the cluster's controllers finalize it, as on k3s.
 * Not done here (the program does not use them): autonaming (every object of the program is named), replacement on
 * an immutable field (the API's error fails the run instead), client-side apply, and the other kinds' awaiters.
 */
import { randomBytes } from "node:crypto";
import { type ApiAnswer, type KubeClient, type KubeObject, kubeClient, kubeTarget } from "../lib/kubeClient";

/** The annotations pulumi-kubernetes reads (metadata/annotations.go). */
export const ANNOTATIONS = {
  waitFor: "pulumi.com/waitFor",
  skipAwait: "pulumi.com/skipAwait",
  timeoutSeconds: "pulumi.com/timeoutSeconds",
  patchForce: "pulumi.com/patchForce",
  deletionPropagation: "pulumi.com/deletionPropagation",
} as const;

/** await.go:272: the bound on a create's, update's or delete's await without `pulumi.com/timeoutSeconds`. */
export const DEFAULT_AWAIT_S = 600;
/** How often an await reads the object again (the provider watches; a poll this often sees the same states). */
export const POLL_MS = 250;

export type WaitCondition =
  | { kind: "jsonpath"; expr: string; path: (string | number)[]; value?: string }
  | { kind: "condition"; expr: string; type: string; status: string };

/**
 * The path of a `{.a.b['c.d'][0]}` expression, as pulumi-kubernetes' strict jsonpath (jsonpath/jsonpath.go Parse)
 * takes it; filters and wildcards, which the program does not use, are refused rather than misread.
 */
export function parseJsonPath(braced: string): (string | number)[] {
  const m = /^\{\s*(.*?)\s*\}$/.exec(braced);
  if (m === null) throw new Error(`${braced} should be wrapped in brackets { ... }`);
  let rest = m[1].replace(/^\$/, "");
  const path: (string | number)[] = [];
  while (rest !== "") {
    let t: RegExpExecArray | null;
    if ((t = /^\.([A-Za-z0-9_-]+)/.exec(rest))) path.push(t[1]);
    else if ((t = /^\['([^']*)'\]/.exec(rest)) || (t = /^\["([^"]*)"\]/.exec(rest))) path.push(t[1]);
    else if ((t = /^\[(\d+)\]/.exec(rest))) path.push(Number(t[1]));
    else throw new Error(`unsupported JSONPath ${braced} (at ${JSON.stringify(rest)})`);
    rest = rest.slice(t[0].length);
  }
  return path;
}

/** The `pulumi.com/waitFor` annotation's conditions (metadata/overrides.go ReadyCondition). */
export function parseWaitFor(annotation: string): WaitCondition[] {
  const exprs: string[] = annotation.trimStart().startsWith("[") ? (JSON.parse(annotation) as string[]) : [annotation];
  return exprs.map((expr) => {
    if (expr.startsWith("jsonpath=")) {
      // Split on "=" but keep "==" (jsonpath.go Parse).
      const parts = expr.slice("jsonpath=".length).replace(/==/g, "\u0000").split("=");
      if (parts.length > 2) throw new Error(`format should be {.path}=value or {.path}, got ${JSON.stringify(expr)}`);
      const value = parts[1]?.replace(/\u0000/g, "==");
      if (value === "") throw new Error(`${parts[0]}= requires a value`);
      return { kind: "jsonpath", expr, path: parseJsonPath(parts[0].replace(/\u0000/g, "==")), value };
    }
    if (expr.startsWith("condition=")) {
      const body = expr.slice("condition=".length);
      const i = body.indexOf("=");
      return {
        kind: "condition",
        expr,
        type: i < 0 ? body : body.slice(0, i),
        status: i < 0 ? "True" : body.slice(i + 1),
      };
    }
    throw new Error(`expected a "jsonpath=" or "condition=" prefix, got ${JSON.stringify(expr)}`);
  });
}

function pluck(obj: unknown, path: (string | number)[]): unknown {
  let v: unknown = obj;
  for (const k of path) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<string | number, unknown>)[k];
  }
  return v;
}

/** Whether a live object meets a condition, and what was found (for the timeout's message). */
export function meets(obj: KubeObject, c: WaitCondition): { ok: boolean; found: string } {
  const generation = obj.metadata?.generation as number | undefined;
  if (c.kind === "jsonpath") {
    const observed = obj.status?.observedGeneration as number | undefined;
    if (generation !== undefined && observed !== undefined && observed < generation)
      return { ok: false, found: `observedGeneration ${observed} < generation ${generation}` };
    const v = pluck(obj, c.path);
    if (v === undefined) return { ok: false, found: "nothing" };
    if (typeof v === "object" && v !== null) return { ok: c.value === undefined, found: "an object" };
    return { ok: c.value === undefined || String(v) === c.value, found: JSON.stringify(String(v)) };
  }
  const conditions = (obj.status?.conditions ?? []) as {
    type?: string;
    status?: string;
    observedGeneration?: number;
  }[];
  const cond = conditions.find((x) => x.type?.toLowerCase() === c.type.toLowerCase() && x.status !== undefined);
  if (cond === undefined) return { ok: false, found: `no ${c.type} condition` };
  const observed = cond.observedGeneration ?? (obj.status?.observedGeneration as number | undefined);
  if (generation !== undefined && observed !== undefined && observed < generation)
    return { ok: false, found: `generation ${observed} < ${generation}` };
  return { ok: cond.status!.toLowerCase() === c.status.toLowerCase(), found: `${c.type}=${cond.status}` };
}

/** The built-in Deployment await (await/deployment.go): Available and a finished rollout at the current generation. */
export function deploymentReady(obj: KubeObject): { ok: boolean; found: string } {
  const generation = obj.metadata?.generation as number | undefined;
  const observed = obj.status?.observedGeneration as number | undefined;
  if (generation !== undefined && (observed === undefined || observed < generation))
    return { ok: false, found: `observedGeneration ${observed ?? "none"} < generation ${generation}` };
  const conditions = (obj.status?.conditions ?? []) as { type?: string; status?: string; reason?: string }[];
  const available = conditions.find((c) => c.type === "Available")?.status === "True";
  const progressing = conditions.find((c) => c.type === "Progressing");
  const done = progressing?.status === "True" && progressing.reason === "NewReplicaSetAvailable";
  return { ok: available && done, found: `Available=${available}, Progressing=${progressing?.reason ?? "none"}` };
}

/** A GET on an API: its status, and its body as JSON (undefined when it is not JSON). */
export type ApiGet = (path: string) => Promise<{ status: number; json: unknown }>;

/** The URL path of an apiVersion: /api/v1, /apis/apps/v1. */
export const groupPath = (apiVersion: string) =>
  apiVersion.includes("/") ? `/apis/${apiVersion}` : `/api/${apiVersion}`;

/**
 * The discovery of an API: each apiVersion/kind's resource name and scope, cached per apiVersion until forgotten (a
 * kind the API did not serve yet, a CRD installed since). One for the sim engine's provider and the Karmada
 * controllers double.
 */
export class Discovery {
  private readonly cache = new Map<string, Map<string, { resource: string; namespaced: boolean }>>();

  constructor(private readonly get: ApiGet) {}

  /** Forgets one apiVersion, or all. */
  forget(apiVersion?: string): void {
    if (apiVersion === undefined) this.cache.clear();
    else this.cache.delete(apiVersion);
  }

  async resourceOf(apiVersion: string, kind: string): Promise<{ resource: string; namespaced: boolean } | undefined> {
    let kinds = this.cache.get(apiVersion);
    if (kinds === undefined) {
      const r = await this.get(groupPath(apiVersion));
      if (r.status === 404) return undefined;
      if (r.status !== 200) throw new Error(`discovery of ${apiVersion}: HTTP ${r.status}`);
      kinds = new Map();
      for (const res of (r.json as { resources: { name: string; kind: string; namespaced: boolean }[] }).resources)
        if (!res.name.includes("/")) kinds.set(res.kind, { resource: res.name, namespaced: res.namespaced });
      this.cache.set(apiVersion, kinds);
    }
    return kinds.get(kind);
  }

  /** The collection's URL path (the object's, with `name`); undefined while the API does not serve the kind. */
  async pathOf(apiVersion: string, kind: string, name?: string, namespace?: string): Promise<string | undefined> {
    const r = await this.resourceOf(apiVersion, kind);
    if (r === undefined) return undefined;
    const ns = r.namespaced ? `/namespaces/${encodeURIComponent(namespace ?? "default")}` : "";
    return `${groupPath(apiVersion)}${ns}/${r.resource}${name === undefined ? "" : `/${encodeURIComponent(name)}`}`;
  }
}

/** A Kubernetes API as a kubeconfig names it, with its discovery. */
export interface KubeApi {
  client: KubeClient;
  discovery: Discovery;
  /** host:port, for messages and the step's host. */
  hostPort: string;
}

export function kubeApi(kubeconfig: string, what: string): KubeApi {
  const client = kubeClient(kubeTarget(kubeconfig, what));
  const discovery = new Discovery(async (path) => {
    const r = await client.send("GET", path);
    return { status: r.status, json: r.json };
  });
  return { client, discovery, hostPort: client.target.hostPort };
}

/** An object of the program, as the engine keeps it in its state. */
export interface KubeObjectRef {
  apiVersion: string;
  kind: string;
  name: string;
  namespace?: string;
}

export const describe = (o: KubeObjectRef) =>
  `${o.kind} ${o.namespace === undefined ? "" : `${o.namespace}/`}${o.name}`;

/** A new field manager, as fieldManagerName makes one (resource.NewUniqueName: the prefix and 8 hex digits). */
export const newFieldManager = () => `pulumi-kubernetes-${randomBytes(4).toString("hex")}`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function annotationsOf(o: KubeObject): Record<string, string> {
  return (o.metadata?.annotations ?? {}) as Record<string, string>;
}

/** The await's bound in ms: the annotation's, else DEFAULT_AWAIT_S (metadata/overrides.go TimeoutDuration). */
export function awaitBoundMs(o: KubeObject): number {
  const s = Number(annotationsOf(o)[ANNOTATIONS.timeoutSeconds]);
  return (Number.isFinite(s) && s > 0 ? s : DEFAULT_AWAIT_S) * 1000;
}

function failure(r: ApiAnswer): string {
  const j = r.json as { message?: string } | undefined;
  return typeof j?.message === "string" ? j.message : `HTTP ${r.status}: ${r.text.slice(0, 300)}`;
}

/**
 * Creates or updates an object by server-side apply, retrying a missing namespace or kind as the provider does,
 * then awaits it. Returns the live object once the await holds.
 */
export async function applyObject(
  api: KubeApi,
  body: KubeObject,
  fieldManager: string,
  opts: { sleep?: (ms: number) => Promise<void> } = {},
): Promise<KubeObject> {
  const ref = refOf(body);
  const pause = opts.sleep ?? sleep;
  const force = annotationsOf(body)[ANNOTATIONS.patchForce] === "true";
  let live: KubeObject | undefined;
  for (let attempt = 0, delay = 1000; ; attempt++, delay *= 2) {
    const path = await api.discovery.pathOf(ref.apiVersion, ref.kind, ref.name, ref.namespace);
    let problem: string;
    if (path === undefined) {
      problem = `the API does not serve ${ref.apiVersion} ${ref.kind}`;
      api.discovery.forget(ref.apiVersion);
    } else {
      const r = await api.client.send(
        "PATCH",
        `${path}?fieldManager=${encodeURIComponent(fieldManager)}&force=${force}&fieldValidation=Warn`,
        body,
        "application/apply-patch+yaml",
      );
      if (r.status >= 200 && r.status < 300) {
        live = r.json as KubeObject;
        break;
      }
      if (r.status !== 404) throw new Error(`${describe(ref)} on ${api.hostPort}: ${failure(r)}`);
      problem = failure(r);
    }
    if (attempt >= 5) throw new Error(`${describe(ref)} on ${api.hostPort}: ${problem}`);
    await pause(delay);
  }
  await awaitReady(api, body, live);
  return (await getObject(api, ref)) ?? live;
}

/** The conditions an object is awaited on after a create or update, or undefined for none. */
export function readiness(body: KubeObject): ((o: KubeObject) => { ok: boolean; found: string }) | undefined {
  const a = annotationsOf(body);
  if (a[ANNOTATIONS.skipAwait] === "true") return undefined;
  if (a[ANNOTATIONS.waitFor] !== undefined) {
    const conds = parseWaitFor(a[ANNOTATIONS.waitFor]);
    return (o) => {
      const results = conds.map((c) => ({ c, ...meets(o, c) }));
      const missing = results.filter((r) => !r.ok);
      return {
        ok: missing.length === 0,
        found: missing.map((r) => `${r.c.expr} (found ${r.found})`).join(", "),
      };
    };
  }
  if (body.kind === "Deployment" && String(body.apiVersion).startsWith("apps/")) return deploymentReady;
  if (body.kind === "Service" && body.spec?.type === "LoadBalancer")
    return (o) => ({ ok: (o.status?.loadBalancer?.ingress ?? []).length > 0, found: "no load balancer ingress" });
  return undefined;
}

async function awaitReady(api: KubeApi, body: KubeObject, first: KubeObject): Promise<void> {
  const check = readiness(body);
  if (check === undefined) return;
  const bound = awaitBoundMs(body);
  const deadline = Date.now() + bound;
  let live: KubeObject | undefined = first;
  for (;;) {
    const r = live === undefined ? { ok: false, found: "the object is gone" } : check(live);
    if (r.ok) return;
    if (Date.now() >= deadline)
      throw new Error(
        `${describe(refOf(body))} on ${api.hostPort} was created but is not ready: timed out after ${bound / 1000} s ` +
          `waiting for ${r.found}`,
      );
    await sleep(POLL_MS);
    live = await getObject(api, refOf(body));
  }
}

export function refOf(o: KubeObject): KubeObjectRef {
  const name = o.metadata?.name as string | undefined;
  if (typeof o.apiVersion !== "string" || typeof o.kind !== "string")
    throw new Error(`an object without apiVersion and kind: ${JSON.stringify(o).slice(0, 200)}`);
  if (typeof name !== "string" || name === "")
    throw new Error(`${o.kind} has no metadata.name: the sim's engine does not autoname (the program names all)`);
  return { apiVersion: o.apiVersion, kind: o.kind, name, namespace: o.metadata?.namespace as string | undefined };
}

/** GET an object; undefined when it does not exist (or its kind is not served). */
export async function getObject(api: KubeApi, ref: KubeObjectRef): Promise<KubeObject | undefined> {
  const path = await api.discovery.pathOf(ref.apiVersion, ref.kind, ref.name, ref.namespace);
  if (path === undefined) return undefined;
  const r = await api.client.send("GET", path);
  if (r.status === 404) return undefined;
  if (r.status !== 200) throw new Error(`${describe(ref)} on ${api.hostPort}: ${failure(r)}`);
  return r.json as KubeObject;
}

/** A read (`Kind.get(name, "ns/name")`): the live object, or an error naming it (provider.go Read). */
export async function readObject(api: KubeApi, apiVersion: string, kind: string, id: string): Promise<KubeObject> {
  const i = id.indexOf("/");
  const ref = { apiVersion, kind, name: i < 0 ? id : id.slice(i + 1), namespace: i < 0 ? undefined : id.slice(0, i) };
  const live = await getObject(api, ref);
  if (live === undefined) throw new Error(`resource '${id}' does not exist: ${describe(ref)} on ${api.hostPort}`);
  return live;
}

/**
 * Deletes an object as the provider does and waits, bounded, until it is gone. An object already gone, or whose
 * kind is no longer served (its CRD went first), counts as deleted (await.go nilIfGVKDeleted).
 */
export async function deleteObject(api: KubeApi, ref: KubeObjectRef, annotations: Record<string, string> = {}) {
  const path = await api.discovery.pathOf(ref.apiVersion, ref.kind, ref.name, ref.namespace);
  if (path === undefined) return;
  const policy = annotations[ANNOTATIONS.deletionPropagation]?.toLowerCase();
  const propagationPolicy = policy === "orphan" ? "Orphan" : policy === "background" ? "Background" : "Foreground";
  const r = await api.client.send("DELETE", path, { kind: "DeleteOptions", apiVersion: "v1", propagationPolicy });
  if (r.status === 404) return;
  if (r.status < 200 || r.status >= 300)
    throw new Error(`delete of ${describe(ref)} on ${api.hostPort}: ${failure(r)}`);
  const bound = awaitBoundMs({ metadata: { annotations } });
  const deadline = Date.now() + bound;
  for (;;) {
    const live = await getObject(api, ref);
    if (live === undefined) return;
    if (Date.now() >= deadline) {
      const finalizers = (live.metadata?.finalizers ?? []) as string[];
      const spec = ((live.spec?.finalizers ?? []) as string[]).map((f) => `spec ${f}`);
      throw new Error(
        `delete of ${describe(ref)} on ${api.hostPort}: timed out after ${bound / 1000} s; it is still there` +
          ([...finalizers, ...spec].length > 0
            ? `, held by the finalizers ${[...finalizers, ...spec].join(", ")}`
            : ""),
      );
    }
    await sleep(POLL_MS);
  }
}
