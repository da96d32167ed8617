/**
 * The few Kubernetes API calls the demo commands (`backend`, `reset`) make, over Node's https with a kubeconfig's
 * credentials. Not @kubernetes/client-node: its 1.x and 2.x releases are ESM-only, which this CommonJS project on
 * Node 20 can load only through import(); it brings some thirty packages, and its generated PATCH calls need a
 * middleware to send a merge patch. The commands need GET, a JSON merge patch, a server-side apply and a status
 * write, on objects whose URLs they know; that is the code below. A kubeconfig holds credentials: no message here
 * quotes it.
 */
import * as https from "node:https";
import { parse } from "yaml";

/** Bound on one request, connect to last byte: the Karmada API answers a GET in milliseconds when it is up. */
export const REQUEST_TIMEOUT_MS = 10_000;
/** The field manager the CLI's writes are recorded under (metadata.managedFields), apart from the program's. */
export const FIELD_MANAGER = "testbed-cli";

/** An API that could not be reached at all: no answer, refused, TLS failure. Names the host and port. */
export class ApiUnreachable extends Error {
  override name = "ApiUnreachable";
  constructor(
    readonly server: string,
    readonly cause_: string,
  ) {
    super(`${server} does not answer: ${cause_}`);
  }
}

/** A request the API answered with an error status. */
export class ApiError extends Error {
  override name = "ApiError";
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

export interface KubeTarget {
  /** https://host:port as the kubeconfig names it. */
  server: string;
  /** host:port, for messages. */
  hostPort: string;
  ca?: string;
  cert?: string;
  key?: string;
  token?: string;
  insecure: boolean;
}

interface KubeconfigDoc {
  clusters?: { name: string; cluster?: Record<string, unknown> }[];
  users?: { name: string; user?: Record<string, unknown> }[];
  contexts?: { name: string; context?: { cluster?: string; user?: string } }[];
  "current-context"?: string;
}

const b64 = (v: unknown): string | undefined =>
  typeof v === "string" && v !== "" ? Buffer.from(v, "base64").toString("utf8") : undefined;

/**
 * The server and credentials of a kubeconfig's context (its current context unless one is named). Only embedded
 * data is read (`*-data`, `token`): the stack outputs carry the kubeconfig as text, with nothing on disk to point to.
 */
export function kubeTarget(text: string, what: string, context?: string): KubeTarget {
  let doc: KubeconfigDoc;
  try {
    doc = parse(text) as KubeconfigDoc;
  } catch {
    throw new Error(`${what}: not valid YAML`);
  }
  if (doc === null || typeof doc !== "object") throw new Error(`${what}: not a kubeconfig`);
  const name = context ?? doc["current-context"];
  const ctx =
    name !== undefined
      ? doc.contexts?.find((c) => c.name === name)
      : doc.contexts?.length === 1
        ? doc.contexts[0]
        : undefined;
  if (ctx === undefined)
    throw new Error(`${what}: no context ${name === undefined ? "selected" : JSON.stringify(name)}`);
  const cluster = doc.clusters?.find((c) => c.name === ctx.context?.cluster)?.cluster;
  const user = doc.users?.find((u) => u.name === ctx.context?.user)?.user ?? {};
  const server = cluster?.server;
  if (typeof server !== "string" || !URL.canParse(server))
    throw new Error(`${what}: context ${JSON.stringify(ctx.name)} has no server URL`);
  const url = new URL(server);
  if (url.protocol !== "https:") throw new Error(`${what}: the server ${server} is not https://`);
  return {
    server: server.replace(/\/+$/, ""),
    hostPort: `${url.hostname}:${url.port === "" ? "443" : url.port}`,
    ca: b64(cluster?.["certificate-authority-data"]),
    cert: b64(user["client-certificate-data"]),
    key: b64(user["client-key-data"]),
    token: typeof user.token === "string" && user.token !== "" ? user.token : undefined,
    insecure: cluster?.["insecure-skip-tls-verify"] === true,
  };
}

export type PatchType = "merge" | "apply";

const CONTENT_TYPES: Record<PatchType, string> = {
  merge: "application/merge-patch+json",
  apply: "application/apply-patch+yaml",
};

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type KubeObject = Record<string, any>;

export interface KubeClient {
  target: KubeTarget;
  /** GET; undefined when the object does not exist (404). */
  get(path: string): Promise<KubeObject | undefined>;
  /** PATCH with a JSON merge patch (`merge`) or a forced server-side apply (`apply`), as FIELD_MANAGER. */
  patch(path: string, body: unknown, type: PatchType): Promise<KubeObject>;
  /** PUT (the status subresource, a replace). */
  put(path: string, body: unknown): Promise<KubeObject>;
  /** POST to a collection (create), as FIELD_MANAGER, with strict field validation as kubectl sends it. */
  post(path: string, body: unknown): Promise<KubeObject>;
  /**
   * Any request, its answer whatever the status (a failed connection still throws ApiUnreachable): for callers
   * that choose their own field manager, patch type or delete options (the sim's engine).
   */
  send(method: string, path: string, body?: unknown, contentType?: string): Promise<ApiAnswer>;
  close(): void;
}

/** What a Kubernetes API answered: the status, the body as text, and as JSON (undefined when it is not JSON). */
export interface ApiAnswer {
  status: number;
  text: string;
  json: unknown;
}

/**
 * One HTTPS request to a Kubernetes API, bounded by `timeoutMs`, its body sent as JSON (`contentType` names the
 * patch kinds). Every status resolves; a connection that fails or does not answer in time rejects. The one request
 * layer of kubeClient and of the test kube-apiserver (kubeApiServer.ts).
 */
export function apiRequest(opts: {
  url: string;
  method: string;
  agent: https.Agent;
  timeoutMs: number;
  token?: string;
  body?: unknown;
  contentType?: string;
}): Promise<ApiAnswer> {
  return new Promise((resolve, reject) => {
    const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    const req = https.request(
      opts.url,
      {
        method: opts.method,
        agent: opts.agent,
        timeout: opts.timeoutMs,
        headers: {
          Accept: "application/json",
          ...(opts.token === undefined ? {} : { Authorization: `Bearer ${opts.token}` }),
          // With its length: Node sends a body of unknown length chunked, which Go's server refuses on a DELETE.
          ...(payload === undefined
            ? {}
            : { "Content-Type": opts.contentType ?? "application/json", "Content-Length": Buffer.byteLength(payload) }),
        },
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => (text += d));
        res.on("end", () => {
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined; // /readyz and /healthz answer plain text
          }
          resolve({ status: res.statusCode ?? 0, text, json });
        });
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error(`no answer within ${opts.timeoutMs / 1000} s`)));
    req.on("error", reject);
    req.end(payload);
  });
}

/**
 * A watch (`?watch=1`) on a collection of `target`, on a connection of its own: `onLine` gets each event as the API
 * sends it (one JSON object a line) until the API ends the watch (it does after --min-request-timeout, 30-60 min),
 * the connection fails (rejects) or `signal` aborts (resolves). Not bounded by REQUEST_TIMEOUT_MS: a watch is quiet
 * for as long as nothing changes.
 */
export function watchStream(
  target: KubeTarget,
  path: string,
  opts: { signal: AbortSignal; onLine: (line: string) => void },
): Promise<void> {
  return new Promise((resolve, reject) => {
    if (opts.signal.aborted) return resolve();
    const req = https.request(
      `${target.server}${path}`,
      {
        method: "GET",
        agent: false,
        ca: target.ca,
        cert: target.cert,
        key: target.key,
        rejectUnauthorized: !target.insecure,
        signal: opts.signal,
        headers: {
          Accept: "application/json",
          ...(target.token === undefined ? {} : { Authorization: `Bearer ${target.token}` }),
        },
      },
      (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          reject(new Error(`watch ${path}: HTTP ${res.statusCode}`));
          return;
        }
        let buffered = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => {
          buffered += d;
          for (let i = buffered.indexOf("\n"); i >= 0; i = buffered.indexOf("\n")) {
            const line = buffered.slice(0, i);
            buffered = buffered.slice(i + 1);
            if (line.trim() !== "") opts.onLine(line);
          }
        });
        res.on("end", () => resolve());
        res.on("error", (err) => (opts.signal.aborted ? resolve() : reject(err)));
      },
    );
    req.on("error", (err) => (opts.signal.aborted ? resolve() : reject(err)));
    req.end();
  });
}

/** A client for a kubeconfig's target; every call is bounded by REQUEST_TIMEOUT_MS. */
export function kubeClient(target: KubeTarget, timeoutMs = REQUEST_TIMEOUT_MS): KubeClient {
  const agent = new https.Agent({
    ca: target.ca,
    cert: target.cert,
    key: target.key,
    rejectUnauthorized: !target.insecure,
    keepAlive: true,
  });
  const send = async (method: string, path: string, body?: unknown, contentType?: string): Promise<ApiAnswer> => {
    try {
      return await apiRequest({
        url: `${target.server}${path}`,
        method,
        agent,
        timeoutMs,
        token: target.token,
        body,
        contentType,
      });
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw new ApiUnreachable(target.hostPort, e.code !== undefined ? `${e.code} ${e.message}` : e.message);
    }
  };
  const request = async (
    method: string,
    path: string,
    body?: unknown,
    contentType?: string,
  ): Promise<KubeObject | undefined> => {
    const r = await send(method, path, body, contentType);
    const parsed = r.json as KubeObject | undefined;
    if (r.status >= 200 && r.status < 300 && parsed !== undefined) return parsed;
    if (r.status === 404 && method === "GET") return undefined;
    const message = typeof parsed?.message === "string" ? parsed.message : `HTTP ${r.status}: ${r.text.slice(0, 200)}`;
    throw new ApiError(r.status, typeof parsed?.reason === "string" ? parsed.reason : "", message);
  };
  return {
    target,
    get: (path) => request("GET", path),
    patch: async (path, body, type) =>
      (await request(
        "PATCH",
        `${path}?fieldManager=${FIELD_MANAGER}${type === "apply" ? "&force=true" : ""}`,
        body,
        CONTENT_TYPES[type],
      )) as KubeObject,
    put: async (path, body) => (await request("PUT", path, body)) as KubeObject,
    post: async (path, body) =>
      (await request("POST", `${path}?fieldManager=${FIELD_MANAGER}&fieldValidation=Strict`, body)) as KubeObject,
    send,
    close: () => agent.destroy(),
  };
}

/** The URL path of a namespaced or cluster-scoped object of a known resource. */
export function objectPath(
  o: { apiVersion: string; resource: string; namespace?: string; name: string },
  sub?: string,
): string {
  const base = o.apiVersion.includes("/") ? `/apis/${o.apiVersion}` : `/api/${o.apiVersion}`;
  const ns = o.namespace === undefined ? "" : `/namespaces/${encodeURIComponent(o.namespace)}`;
  return `${base}${ns}/${o.resource}/${encodeURIComponent(o.name)}${sub === undefined ? "" : `/${sub}`}`;
}
