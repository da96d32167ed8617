/**
 * A real Kubernetes API on this machine, for tests: Debian's etcd and a kube-apiserver built by
 * scripts/setup-kube-apiserver.sh, both on 127.0.0.1 at free ports, with their state in a private temporary
 * directory that stop() removes. Objects sent here meet the API's own validation, defaulting and admission
 * (NamespaceLifecycle, RBAC escalation checks, CRD structural schemas), which no schema check in a unit test covers.
 * See the README, "A real kube-apiserver".
 *
 * Only the API server runs: no controller-manager, so no pods, no filled-in token Secrets, no garbage collection.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as https from "node:https";
import * as http from "node:http";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import YAML from "yaml";
import { apiRequest } from "./kubeClient";

/**
 * The Kubernetes version setup-kube-apiserver.sh builds by default: k3s v1.31.6 embeds v1.31.6, and v1.31.4 is the
 * nearest version whose modules the Go module proxy serves in full (see the script).
 */
export const KUBE_APISERVER_VERSION = "v1.31.4";
/** Bound on kube-apiserver's start to /readyz: 2.7-3.5 s measured on 2 shared cores; the rest is room for load. */
export const READY_TIMEOUT_MS = 90_000;
/** Bound on etcd's start to a healthy /health. */
const ETCD_READY_TIMEOUT_MS = 30_000;
/** Bound on each process's exit after SIGTERM, before SIGKILL. */
const STOP_TIMEOUT_MS = 15_000;
/**
 * Service ClusterIPs are allocated from this range (never routed: no kube-proxy runs); it is inside the
 * 198.18.0.0/15 benchmarking block the tests keep to.
 */
export const SERVICE_CLUSTER_IP_RANGE = "198.19.240.0/24";
/**
 * The address the API server publishes in the `kubernetes` Service's Endpoints. Nothing here connects to it (clients
 * use 127.0.0.1), but it may not be loopback: the Endpoints validation rejects 127.0.0.0/8 and the API server then
 * logs "unable to sync kubernetes service" every 10 s. An address of the 198.18.0.0/15 block, never routed here.
 */
export const ADVERTISE_ADDRESS = "198.18.255.254";
/** The user the static token authenticates; system:masters passes RBAC for everything, as a k3s admin does. */
export const ADMIN_USER = "testbed-admin";

const execFileAsync = promisify(execFile);

/** Where setup-kube-apiserver.sh caches the build of a version (XDG cache, as the script computes it). */
export function kubeApiServerCacheDir(version = KUBE_APISERVER_VERSION, env = process.env): string {
  const cache = env.XDG_CACHE_HOME !== undefined && env.XDG_CACHE_HOME !== "" ? env.XDG_CACHE_HOME : undefined;
  return path.join(cache ?? path.join(env.HOME ?? os.homedir(), ".cache"), "testbed", `kube-apiserver-${version}`);
}

/** The cached kube-apiserver binary of a version; it may not exist yet. */
export function kubeApiServerBinary(version = KUBE_APISERVER_VERSION, env = process.env): string {
  return path.join(kubeApiServerCacheDir(version, env), "bin", "kube-apiserver");
}

export interface StartOptions {
  /** Path to kube-apiserver. Defaults to kubeApiServerBinary(). */
  binary?: string;
  /** Path to etcd. Defaults to "etcd" from PATH (Debian's etcd-server package). */
  etcd?: string;
  /** Bound on the wait for /readyz, in ms. Defaults to READY_TIMEOUT_MS. */
  readyTimeoutMs?: number;
  /** Published in the `kubernetes` Service's Endpoints (a sim host's address, say). Defaults to ADVERTISE_ADDRESS. */
  advertiseAddress?: string;
}

export interface ApiResponse {
  status: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
}

/** The parts of an object that name it. */
export interface ObjectRef {
  apiVersion: string;
  kind: string;
  metadata?: { name?: string; namespace?: string };
}

/** Requests to a Kubernetes API as one client; the calls the tests and the sim make on an API they started. */
export interface KubeApi {
  /** One authenticated request; a JSON body is sent as application/json (or merge-patch for PATCH). */
  request(method: string, urlPath: string, body?: unknown): Promise<ApiResponse>;
  /** The collection URL path of an object's kind (found by discovery, as kubectl does), in its namespace. */
  collectionPath(obj: ObjectRef): Promise<string>;
  /**
   * POST an object to its collection with fieldValidation=Strict (as kubectl sends by default: an unknown or
   * duplicate field is an error, not a warning); returns the response, whatever its status.
   */
  create(obj: ObjectRef): Promise<ApiResponse>;
  /** GET an object by its apiVersion, kind, name and namespace. */
  get(obj: ObjectRef): Promise<ApiResponse>;
  /** Installs a CustomResourceDefinition and waits until the API serves it (Established, then discoverable). */
  installCrd(crd: { metadata: { name: string } }, timeoutMs?: number): Promise<void>;
}

export interface KubeApiServer extends KubeApi {
  /** https://127.0.0.1:<port> */
  url: string;
  /** PEM of the CA that signed the serving certificate. */
  caPem: string;
  /** A kubeconfig for ADMIN_USER (bearer token, CA embedded): a secret, never log it. */
  kubeconfig: string;
  /** The same kubeconfig as a 0600 file in the private state directory. */
  kubeconfigPath: string;
  /** The private (0700) state directory: etcd's data, keys, logs. Removed by stop(). */
  stateDir: string;
  /** Process ids of etcd and kube-apiserver. */
  pids: { etcd: number; apiserver: number };
  /** Stops kube-apiserver, then etcd, and removes the state directory. Safe to call twice. */
  stop(): Promise<void>;
}

/** A free TCP port on 127.0.0.1 (the kernel picks it; the small race to the real bind is acceptable in tests). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The last lines of a log file, for an error message (the logs hold no secrets: tokens are only in files). */
function tail(file: string, lines = 15): string {
  try {
    return fs.readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

/** Runs openssl in dir; its stderr becomes the error. */
export async function openssl(dir: string, args: string[]): Promise<void> {
  try {
    await execFileAsync("openssl", args, { cwd: dir });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`openssl ${args[0]} failed: ${(e.stderr ?? e.message).trim()}`);
  }
}

/** ECDSA P-256 for every key: fast to generate, and kube-apiserver accepts ES256 for service-account tokens. */
const EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

/** A self-signed CA in dir: `<name>.crt` and `<name>.key`. */
export async function makeCa(dir: string, name: string, commonName: string, days: number): Promise<void> {
  await openssl(dir, [
    "req",
    "-x509",
    ...EC_KEY,
    "-keyout",
    `${name}.key`,
    "-out",
    `${name}.crt`,
    "-days",
    String(days),
    "-subj",
    `/CN=${commonName}`,
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ]);
}

export interface LeafCert {
  /** Writes `<name>.crt` and `<name>.key`. */
  name: string;
  /** The CA's base name in the same directory (`<ca>.crt`, `<ca>.key`). */
  ca: string;
  commonName: string;
  /** Subject O, the group a client certificate authenticates as (system:masters for an admin). */
  organization?: string;
  /** subjectAltName entries, as openssl takes them: "IP:127.0.0.1", "DNS:kubernetes". */
  altNames?: string[];
  usage: "serverAuth" | "clientAuth";
  days: number;
}

/** A key and a certificate signed by a CA of the same directory; the request and extension files are removed. */
export async function makeLeafCert(dir: string, c: LeafCert): Promise<void> {
  const subject = `${c.organization === undefined ? "" : `/O=${c.organization}`}/CN=${c.commonName}`;
  await openssl(dir, ["req", ...EC_KEY, "-keyout", `${c.name}.key`, "-out", `${c.name}.csr`, "-subj", subject]);
  const ext = [
    ...(c.altNames !== undefined && c.altNames.length > 0 ? [`subjectAltName=${c.altNames.join(",")}`] : []),
    `extendedKeyUsage=${c.usage}`,
    "keyUsage=critical,digitalSignature",
  ];
  fs.writeFileSync(path.join(dir, `${c.name}.ext`), `${ext.join("\n")}\n`);
  try {
    await openssl(dir, [
      "x509",
      "-req",
      "-in",
      `${c.name}.csr`,
      "-CA",
      `${c.ca}.crt`,
      "-CAkey",
      `${c.ca}.key`,
      "-CAcreateserial",
      "-out",
      `${c.name}.crt`,
      "-days",
      String(c.days),
      "-extfile",
      `${c.name}.ext`,
    ]);
  } finally {
    for (const f of [`${c.name}.csr`, `${c.name}.ext`]) fs.rmSync(path.join(dir, f), { force: true });
  }
}

/**
 * A service-account signing key (ECDSA P-256), private: `<name>` in dir. In SEC1 form ("EC PRIVATE KEY"), the one
 * form of an EC private key that --service-account-key-file also reads as a public key (client-go v0.31
 * util/keyutil/key.go, ParsePublicKeysPEM: PKCS#8 is tried for RSA only), as k3s passes service.key to both flags.
 */
export async function makeSigningKey(dir: string, name: string): Promise<void> {
  await openssl(dir, ["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", name]);
  fs.chmodSync(path.join(dir, name), 0o600);
}

/** A CA, a serving certificate for 127.0.0.1 signed by it, and the service-account signing key pair. */
async function makeKeys(dir: string): Promise<void> {
  await makeCa(dir, "ca", "testbed-kube-apiserver-ca", 2);
  await makeLeafCert(dir, {
    name: "apiserver",
    ca: "ca",
    commonName: "kube-apiserver",
    altNames: ["IP:127.0.0.1", "DNS:localhost"],
    usage: "serverAuth",
    days: 2,
  });
  await makeSigningKey(dir, "sa.key");
  await openssl(dir, ["pkey", "-in", "sa.key", "-pubout", "-out", "sa.pub"]);
}

/** Spawn failures (ENOENT, EACCES), by process: waitFor reports them instead of an unhandled error event. */
const spawnErrors = new WeakMap<ChildProcess, Error>();

function startProcess(command: string, args: string[], logFile: string): ChildProcess {
  const log = fs.openSync(logFile, "a", 0o600);
  try {
    const child = spawn(command, args, { stdio: ["ignore", log, log] });
    child.on("error", (err) => spawnErrors.set(child, err));
    return child;
  } finally {
    fs.closeSync(log);
  }
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null || spawnErrors.has(child);
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (exited(child) || child.pid === undefined) return;
  const done = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
  await done;
  clearTimeout(timer);
}

function plainGet(url: string): Promise<ApiResponse> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { timeout: 2000 }, (res) => {
      let text = "";
      res.on("data", (d: Buffer) => (text += d.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
  });
}

/** Polls until check() is true; throws what describe() says when the time is up or the process has exited. */
async function waitFor(
  what: string,
  child: ChildProcess,
  logFile: string,
  timeoutMs: number,
  check: () => Promise<boolean>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  for (;;) {
    const spawnError = spawnErrors.get(child);
    if (spawnError !== undefined) throw new Error(`${what} did not start: ${spawnError.message}`);
    if (exited(child)) {
      throw new Error(
        `${what} exited (code ${child.exitCode ?? child.signalCode}) before it was ready:\n${tail(logFile)}`,
      );
    }
    try {
      if (await check()) return;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `${what} not ready within ${timeoutMs / 1000} s${last === "" ? "" : ` (last error: ${last})`}:\n${tail(logFile)}`,
      );
    }
    await sleep(250);
  }
}

/** A client certificate and its key, PEM. */
export interface ClientCert {
  certPem: string;
  keyPem: string;
}

/**
 * A one-context kubeconfig with the CA and the credentials embedded: a bearer token, or a client certificate (as
 * k3s writes /etc/rancher/k3s/k3s.yaml, whose cluster, user and context are all named "default").
 */
export function kubeconfigText(
  url: string,
  caPem: string,
  credentials: string | ClientCert,
  names: { cluster: string; user: string } = { cluster: "testbed-kube-apiserver", user: ADMIN_USER },
): string {
  const b64 = (s: string) => Buffer.from(s).toString("base64");
  const user =
    typeof credentials === "string"
      ? { token: credentials }
      : { "client-certificate-data": b64(credentials.certPem), "client-key-data": b64(credentials.keyPem) };
  return YAML.stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: names.cluster, cluster: { server: url, "certificate-authority-data": b64(caPem) } }],
    users: [{ name: names.user, user }],
    contexts: [{ name: names.cluster, context: { cluster: names.cluster, user: names.user } }],
    "current-context": names.cluster,
  });
}

/** etcd's command line for a one-member cluster with plain-HTTP client and peer URLs (on loopback only). */
export function etcdArgs(name: string, dataDir: string, clientUrl: string, peerUrl: string): string[] {
  return [
    `--name=${name}`,
    `--data-dir=${dataDir}`,
    `--listen-client-urls=${clientUrl}`,
    `--advertise-client-urls=${clientUrl}`,
    `--listen-peer-urls=${peerUrl}`,
    `--initial-advertise-peer-urls=${peerUrl}`,
    `--initial-cluster=${name}=${peerUrl}`,
  ];
}

/** kube-apiserver's command line: nothing secret on it, the token and keys are files in the state directory. */
export function apiServerArgs(dir: string, etcdUrl: string, port: number, advertise = ADVERTISE_ADDRESS): string[] {
  const f = (name: string) => path.join(dir, name);
  return [
    `--etcd-servers=${etcdUrl}`,
    "--bind-address=127.0.0.1",
    `--advertise-address=${advertise}`,
    `--secure-port=${port}`,
    `--cert-dir=${f("certs")}`,
    `--tls-cert-file=${f("apiserver.crt")}`,
    `--tls-private-key-file=${f("apiserver.key")}`,
    `--token-auth-file=${f("tokens.csv")}`,
    // RBAC, as k3s runs it: the program's ClusterRoles then meet the escalation check.
    "--authorization-mode=RBAC",
    "--anonymous-auth=false",
    `--service-account-issuer=https://kubernetes.default.svc`,
    `--service-account-key-file=${f("sa.pub")}`,
    `--service-account-signing-key-file=${f("sa.key")}`,
    `--service-cluster-ip-range=${SERVICE_CLUSTER_IP_RANGE}`,
    "--profiling=false",
  ];
}

/**
 * A client of the Kubernetes API at `url` over `agent` (its CA, and a client certificate when the API authenticates by
 * one), with a bearer `token` when given: every request bounded by 30 s.
 */
export function connectKubeApi(url: string, agent: https.Agent, token?: string): KubeApi {
  const request = async (method: string, urlPath: string, body?: unknown): Promise<ApiResponse> => {
    const contentType = method === "PATCH" ? "application/merge-patch+json" : "application/json";
    try {
      const r = await apiRequest({
        url: `${url}${urlPath}`,
        method,
        agent,
        timeoutMs: 30_000,
        token,
        body,
        contentType,
      });
      return { status: r.status, body: r.json ?? r.text };
    } catch (err) {
      throw new Error(`${method} ${urlPath}: ${(err as Error).message}`);
    }
  };

  const discovery = new Map<string, { name: string; kind: string; namespaced: boolean }[]>();
  const collectionPath = async (obj: ObjectRef): Promise<string> => {
    const base = obj.apiVersion.includes("/") ? `/apis/${obj.apiVersion}` : `/api/${obj.apiVersion}`;
    let resources = discovery.get(base);
    if (resources === undefined) {
      const r = await request("GET", base);
      if (r.status !== 200) throw new Error(`discovery of ${obj.apiVersion}: HTTP ${r.status}`);
      resources = r.body.resources as { name: string; kind: string; namespaced: boolean }[];
      discovery.set(base, resources);
    }
    const resource = resources.find((x) => x.kind === obj.kind && !x.name.includes("/"));
    if (resource === undefined) throw new Error(`${obj.apiVersion} serves no kind ${obj.kind}`);
    const ns = obj.metadata?.namespace;
    if (resource.namespaced && (ns === undefined || ns === "")) {
      throw new Error(`${obj.kind} ${obj.metadata?.name ?? ""} is namespaced but has no metadata.namespace`);
    }
    return resource.namespaced ? `${base}/namespaces/${ns}/${resource.name}` : `${base}/${resource.name}`;
  };
  const create = async (obj: ObjectRef) => request("POST", `${await collectionPath(obj)}?fieldValidation=Strict`, obj);
  const get = async (obj: ObjectRef) => request("GET", `${await collectionPath(obj)}/${obj.metadata?.name ?? ""}`);

  const installCrd = async (crd: { metadata: { name: string } }, timeoutMs = 30_000): Promise<void> => {
    const r = await request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd);
    if (r.status !== 201) {
      throw new Error(`CRD ${crd.metadata.name}: HTTP ${r.status}: ${r.body?.message ?? JSON.stringify(r.body)}`);
    }
    const full = r.body as { spec: { group: string; versions: { name: string; served: boolean }[] } };
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const c = await request("GET", `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}`);
      const established = (c.body?.status?.conditions ?? []).some(
        (x: { type: string; status: string }) => x.type === "Established" && x.status === "True",
      );
      // Established is set before discovery serves the group: wait for both, as kubectl wait + apply would.
      const served = full.spec.versions.filter((v) => v.served);
      const discoverable =
        established &&
        (await Promise.all(served.map((v) => request("GET", `/apis/${full.spec.group}/${v.name}`)))).every(
          (d) => d.status === 200,
        );
      if (discoverable) return;
      if (Date.now() > deadline) {
        throw new Error(`CRD ${crd.metadata.name} not served within ${timeoutMs / 1000} s`);
      }
      await sleep(200);
    }
  };

  return { request, collectionPath, create, get, installCrd };
}

/** How many times a start is tried when a port freePort chose was taken before etcd or kube-apiserver bound it. */
const PORT_RACE_ATTEMPTS = 3;

/**
 * Starts etcd and kube-apiserver and waits, bounded, until /readyz answers ok. freePort's ports can be taken by
 * another process before etcd or kube-apiserver binds them (test files run in parallel; CI met it once): such a start
 * is tried again from scratch, with new ports, up to PORT_RACE_ATTEMPTS times; any other failure is final.
 */
export async function startKubeApiServer(opts: StartOptions = {}): Promise<KubeApiServer> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(opts);
    } catch (err) {
      if (attempt >= PORT_RACE_ATTEMPTS || !/address already in use/.test((err as Error).message)) throw err;
    }
  }
}

async function startOnce(opts: StartOptions): Promise<KubeApiServer> {
  const binary = opts.binary ?? kubeApiServerBinary();
  if (!fs.existsSync(binary)) {
    throw new Error(`kube-apiserver not found at ${binary}: run scripts/setup-kube-apiserver.sh`);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "testbed-kube-apiserver-"));
  fs.chmodSync(dir, 0o700);
  const children: ChildProcess[] = [];
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    // kube-apiserver first: it holds watches on etcd.
    for (const child of [...children].reverse()) await stopProcess(child);
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    const [clientPort, peerPort, apiPort] = [await freePort(), await freePort(), await freePort()];
    const etcdUrl = `http://127.0.0.1:${clientPort}`;
    const peerUrl = `http://127.0.0.1:${peerPort}`;
    const etcdLog = path.join(dir, "etcd.log");
    const etcd = startProcess(
      opts.etcd ?? "etcd",
      etcdArgs("kube-apiserver-test", path.join(dir, "etcd"), etcdUrl, peerUrl),
      etcdLog,
    );
    children.push(etcd);
    await waitFor("etcd", etcd, etcdLog, ETCD_READY_TIMEOUT_MS, async () => {
      const r = await plainGet(`${etcdUrl}/health`);
      return r.status === 200 && JSON.parse(r.body).health === "true";
    });

    await makeKeys(dir);
    const token = randomBytes(32).toString("hex");
    // token,user,uid,"group": kube-apiserver's static token file format.
    fs.writeFileSync(path.join(dir, "tokens.csv"), `${token},${ADMIN_USER},${ADMIN_USER},"system:masters"\n`, {
      mode: 0o600,
    });
    const caPem = fs.readFileSync(path.join(dir, "ca.crt"), "utf8");
    const url = `https://127.0.0.1:${apiPort}`;
    const agent = new https.Agent({ ca: caPem, keepAlive: true });

    const api = connectKubeApi(url, agent, token);
    const { request } = api;

    const apiLog = path.join(dir, "kube-apiserver.log");
    const apiserver = startProcess(binary, apiServerArgs(dir, etcdUrl, apiPort, opts.advertiseAddress), apiLog);
    children.push(apiserver);
    await waitFor("kube-apiserver", apiserver, apiLog, opts.readyTimeoutMs ?? READY_TIMEOUT_MS, async () => {
      const r = await request("GET", "/readyz");
      return r.status === 200 && r.body === "ok";
    });

    const kubeconfig = kubeconfigText(url, caPem, token);
    const kubeconfigPath = path.join(dir, "kubeconfig");
    fs.writeFileSync(kubeconfigPath, kubeconfig, { mode: 0o600 });

    return {
      url,
      caPem,
      kubeconfig,
      kubeconfigPath,
      stateDir: dir,
      pids: { etcd: etcd.pid ?? 0, apiserver: apiserver.pid ?? 0 },
      ...api,
      stop: async () => {
        agent.destroy();
        await stop();
      },
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
