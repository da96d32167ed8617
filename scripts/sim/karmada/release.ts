/**
 * The sim's double of the Karmada Helm Release (components/karmada/karmada.ts: chart karmada 1.13.0 through
 * pulumi-kubernetes' helm.v3.Release): no chart, image or pod can run here, so this does what the chart's objects
 * and hooks do, as far as anything reads them, and cites the chart file and line of each (chart.ts holds the
 * renderings). Karmada's etcd (Debian's) and karmada-apiserver (the cached kube-apiserver) run as processes on the
 * node the values pin etcd to, through a KarmadaNode (node.ts).
 *
 * Install is `helm install --wait [--wait-for-jobs] --timeout <timeout>s` as pulumi-kubernetes runs it
 * (provider/pkg/provider/helm_release.go, helmCreate: hooks on, Wait = !skipAwait), in Helm's order
 * (helm pkg/action/install.go): refuse a name in use, create the namespace, record the release pending-install,
 * run the pre-install hook (the certificates and the three Secrets, templates/pre-install-job.yaml), create the
 * release's objects (here: start etcd, then karmada-apiserver, then the controllers), wait until they are ready and
 * the static-resource Job has run (templates/karmada-static-resource-job.yaml: Karmada's kinds and namespaces in
 * its API), record the release deployed. Past the timeout the release is recorded failed and everything is left as
 * it is, as Helm leaves it.
 *
 * Uninstall is `helm uninstall --wait` (helm_release.go Delete: hooks on, Wait when !skipAwait; helm
 * pkg/action/uninstall.go): the release's objects go (the processes are sent SIGTERM and killed 30 s later, as the
 * kubelet does with the pods' terminationGracePeriodSeconds, templates/karmada-apiserver.yaml:122; uninstall does not
 * wait for them), the post-delete hook deletes the Secrets (templates/post-delete-job.yaml:47-52), the release record
 * goes. etcd's hostPath data stays: a hostPath outlives its pod (components/karmada/etcd-data.sh removes it).
 *
 * Not played, as nothing in the sim reads them: the hook Job's ServiceAccount, ClusterRole and ClusterRoleBinding and
 * the CRD ConfigMaps (pre-install hooks without a delete policy: on a cluster they outlive uninstall, and Helm's
 * default before-hook-creation replaces them at the next install); the Deployments, StatefulSet and Services as
 * objects on the host cluster; karmada-search, -aggregated-apiserver, -webhook, -scheduler and -controller-manager
 * (C2's controllers process, started here, stands for the controllers); the kubelet's restarts of a crashed
 * container: a process that exits stays down, and install waits out its timeout, naming it.
 */
import { execFile } from "node:child_process";
import { gzipSync } from "node:zlib";
import * as fs from "node:fs";
import * as https from "node:https";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import YAML from "yaml";
import { type ApiResponse, type KubeApiServer, connectKubeApi, kubeApiServerBinary } from "../../lib/kubeApiServer";
import { clusterCrd } from "../../lib/karmadaDouble";
import { apiRequest, kubeClient, kubeTarget } from "../../lib/kubeClient";
import {
  CHART,
  CHART_ETCD_CLIENT_PORT,
  CHART_ETCD_PEER_PORT,
  CHART_VERSIONS,
  type ChartCerts,
  type NodePaths,
  type Values,
  apiServerArgs,
  chartSecrets,
  effectiveValues,
  etcdArgs,
  expiryDays,
  postDeleteObjects,
  renderHosts,
  subjectAltName,
  unsupportedValues,
} from "./chart";
import type { KarmadaNode } from "./node";

const execFileAsync = promisify(execFile);
const REPO = path.resolve(__dirname, "../../..");

/** pulumi-kubernetes' timeout when a Release sets none (helm_release.go: defaultTimeoutSeconds). */
export const DEFAULT_TIMEOUT_S = 300;
/** The pods' terminationGracePeriodSeconds (templates/karmada-apiserver.yaml:122; etcd's pod takes the default 30). */
export const TERMINATION_GRACE_S = 30;
/** Where the double keeps, on the node, what a pod would have: the Secret's files, logs, pids. */
export const DEFAULT_STATE_DIR = "/var/lib/testbed-sim/karmada";
/** Bound on one request to the host cluster: as the test kube-apiserver's client (scripts/lib/kubeApiServer.ts). */
const HOST_REQUEST_TIMEOUT_MS = 30_000;
/** A probe's own bound: the chart's readinessProbe timeoutSeconds (templates/karmada-apiserver.yaml:99). */
const PROBE_TIMEOUT_MS = 15_000;
/** The kubelet's probes and Helm's wait poll every few seconds; the double polls faster, it only costs requests. */
const POLL_MS = 500;
/** The file that says C2's controllers double exists (scripts/sim/karmada/controllers.ts). */
const CONTROLLERS_SOURCE = path.join(REPO, "scripts/sim/karmada/controllers.ts");

export interface ReleaseRequest {
  /**
   * The Release's inputs as the program registers them: name, chart, version, repositoryOpts, namespace,
   * createNamespace, values (an object), timeout, skipAwait, waitForJobs.
   */
  inputs: Record<string, unknown>;
  /** Admin kubeconfig of the cluster the Release goes to (the provider's), server reachable from this process. */
  kubeconfig: string;
  /**
   * The node Karmada's processes run on: the one values.etcd.internal.nodeSelector names (when it names one, it must
   * be this node's name, or install fails as the pod would stay Pending).
   */
  node: KarmadaNode;
  /** Directory on the node for the pods' files (certificates, logs, pids). Defaults to DEFAULT_STATE_DIR. */
  stateDir?: string;
  /**
   * etcd's client and peer ports on the node: the pod had its own network namespace; a node may already run etcd on
   * the chart's ports. Defaults to the chart's 2379 and 2380.
   */
  etcdPorts?: { client: number; peer: number };
  /** karmada-apiserver's --advertise-address (the pod IP in a cluster). Defaults to the node's address. */
  advertiseAddress?: string;
  /** kube-apiserver on the node. Defaults to kubeApiServerBinary() (scripts/setup-kube-apiserver.sh's cache). */
  apiServerBinary?: string;
  /** etcd on the node. Defaults to "etcd" (Debian's etcd-server). */
  etcdBinary?: string;
  /** Progress lines. Defaults to none. */
  log?: (line: string) => void;
}

export interface Release {
  name: string;
  namespace: string;
  chart: string;
  values: Values;
  /** Seconds. */
  timeout: number;
  createNamespace: boolean;
}

/** The Release's inputs checked as Helm and the chart would, every problem in one error. */
export function releaseOf(inputs: Record<string, unknown>): Release {
  const errors: string[] = [];
  const str = (k: string) => (typeof inputs[k] === "string" && inputs[k] !== "" ? (inputs[k] as string) : undefined);
  const name = str("name");
  const namespace = str("namespace") ?? "default";
  const chart = str("chart");
  if (name === undefined) errors.push("name: a release name is required (the program sets it)");
  if (chart !== CHART.name)
    errors.push(`chart: ${JSON.stringify(inputs.chart)} is not the chart the sim plays (karmada)`);
  if (!CHART_VERSIONS.includes(String(inputs.version))) {
    errors.push(`version: ${JSON.stringify(inputs.version)} is not the chart version the sim plays (1.13.0)`);
  }
  const user = inputs.values ?? {};
  if (user === null || typeof user !== "object" || Array.isArray(user)) errors.push("values: not an object");
  const timeout = inputs.timeout === undefined || inputs.timeout === 0 ? DEFAULT_TIMEOUT_S : Number(inputs.timeout);
  if (!Number.isFinite(timeout) || timeout <= 0)
    errors.push(`timeout: ${JSON.stringify(inputs.timeout)} is not seconds`);
  // What the program sets; the double plays helm install --wait --wait-for-jobs only (returning earlier, as skipAwait
  // or no waitForJobs would, leaves the static-resource Job running: the kinds would appear later).
  if (inputs.skipAwait === true) errors.push("skipAwait: true is not played by the sim (only false)");
  if (inputs.waitForJobs !== true)
    errors.push(`waitForJobs: ${JSON.stringify(inputs.waitForJobs)} is not played (only true)`);
  const values = errors.length === 0 ? effectiveValues(user as Values) : {};
  if (errors.length === 0) errors.push(...unsupportedValues(values));
  if (errors.length > 0) throw new Error(`Karmada Release (sim): ${errors.join("; ")}`);
  return {
    name: name as string,
    namespace,
    chart: CHART.name,
    values,
    timeout,
    createNamespace: inputs.createNamespace === true,
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The chart's etcd StatefulSet has one replica (values etcd.internal.replicaCount 1): its pod. */
export const ETCD_POD = "etcd-0";

/**
 * etcd's Pod (fixtures/etcd.yaml:12-48: StatefulSet `etcd`, the pod's labels from values etcd.labels, default
 * `app: etcd`, _helpers.tpl karmada.etcd.labels), bound to the node and Running with the node's address as its IP:
 * etcd runs on the node here, in the node's network. Its status is what the kubelet would report. Creating it waits
 * for the namespace's default ServiceAccount (the ServiceAccount admission plugin refuses a pod before it exists).
 * Returns undefined once it is stored, else why not yet.
 */
async function putEtcdPod(host: HostApi, rel: Release, node: KarmadaNode, port: number): Promise<string | undefined> {
  const path = `/api/v1/namespaces/${rel.namespace}/pods`;
  const image = rel.values.etcd?.internal?.image ?? {};
  const pod = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: ETCD_POD, namespace: rel.namespace, labels: rel.values.etcd?.labels ?? { app: "etcd" } },
    spec: {
      nodeName: node.name,
      automountServiceAccountToken: false,
      containers: [
        {
          name: "etcd",
          image: `${image.registry ?? "registry.k8s.io"}/${image.repository ?? "etcd"}:${image.tag ?? "3.5.16-0"}`,
          ports: [{ containerPort: port, name: "client" }],
        },
      ],
    },
  };
  const created = await host.request("POST", path, pod);
  if (created.status !== 201 && created.status !== 409) return `HTTP ${created.status}: ${created.body?.message ?? ""}`;
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
  const live = await host.request("GET", `${path}/${ETCD_POD}`);
  if (live.status !== 200) return `HTTP ${live.status}`;
  const status = {
    phase: "Running",
    hostIP: node.address,
    podIP: node.address,
    podIPs: [{ ip: node.address }],
    startTime: now,
    conditions: ["Initialized", "Ready", "ContainersReady", "PodScheduled"].map((type) => ({
      type,
      status: "True",
      lastTransitionTime: now,
    })),
  };
  const put = await host.request("PUT", `${path}/${ETCD_POD}/status`, { ...live.body, status });
  return put.status === 200 ? undefined : `status: HTTP ${put.status}: ${put.body?.message ?? ""}`;
}

/** The host cluster, as the provider's kubeconfig reaches it. Messages never quote the kubeconfig. */
function hostApi(kubeconfig: string) {
  const client = kubeClient(kubeTarget(kubeconfig, "the host cluster's kubeconfig"), HOST_REQUEST_TIMEOUT_MS);
  const request = async (method: string, urlPath: string, body?: unknown, contentType?: string) => {
    const r = await client.send(method, urlPath, body, contentType);
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    return { status: r.status, body: (r.json ?? r.text) as any } as ApiResponse;
  };
  const must = async (what: string, r: Promise<ApiResponse>, ok: number[]) => {
    const a = await r;
    if (!ok.includes(a.status)) throw new Error(`${what}: HTTP ${a.status}: ${a.body?.message ?? ""}`);
    return a;
  };
  return { request, must, close: () => client.close() };
}
type HostApi = ReturnType<typeof hostApi>;

// ---- the release record (helm pkg/storage/driver/secrets.go: Secret sh.helm.release.v1.<name>.v<revision>) ----

const recordName = (name: string, revision: number) => `sh.helm.release.v1.${name}.v${revision}`;

/**
 * Helm's release record as its Secret driver stores it (secrets.go newSecretsObject: type helm.sh/release.v1,
 * labels name/owner/status/version, data.release the base64 of the gzipped release JSON, util.go encodeRelease),
 * with the fields this double knows: enough for `helm list` and for Helm's "name still in use" check.
 */
function recordSecret(rel: Release, status: string, firstDeployed: string, description: string): object {
  const json = {
    name: rel.name,
    namespace: rel.namespace,
    version: 1,
    info: { first_deployed: firstDeployed, last_deployed: new Date().toISOString(), status, description },
    chart: { metadata: { apiVersion: "v2", name: CHART.name, version: CHART.version, appVersion: CHART.appVersion } },
    config: rel.values,
  };
  const encoded = gzipSync(Buffer.from(JSON.stringify(json))).toString("base64");
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: {
      name: recordName(rel.name, 1),
      namespace: rel.namespace,
      labels: { name: rel.name, owner: "helm", status, version: "1" },
    },
    type: "helm.sh/release.v1",
    data: { release: Buffer.from(encoded).toString("base64") },
  };
}

async function releaseRecords(host: HostApi, rel: Release): Promise<{ name: string; status: string }[]> {
  const selector = encodeURIComponent(`owner=helm,name=${rel.name}`);
  const r = await host.request("GET", `/api/v1/namespaces/${rel.namespace}/secrets?labelSelector=${selector}`);
  if (r.status === 404) return [];
  if (r.status !== 200) throw new Error(`listing Helm's release records: HTTP ${r.status}: ${r.body?.message ?? ""}`);
  return (r.body.items as { metadata: { name: string; labels?: Record<string, string> } }[]).map((s) => ({
    name: s.metadata.name,
    status: s.metadata.labels?.status ?? "",
  }));
}

async function writeRecord(host: HostApi, rel: Release, status: string, first: string, description: string) {
  const body = recordSecret(rel, status, first, description);
  const p = `/api/v1/namespaces/${rel.namespace}/secrets`;
  const put = await host.request("PUT", `${p}/${recordName(rel.name, 1)}`, body);
  if (put.status === 404) await host.must("recording the release", host.request("POST", p, body), [201]);
  else if (put.status !== 200) throw new Error(`recording the release: HTTP ${put.status}: ${put.body?.message ?? ""}`);
}

// ---- the pre-install hook's certificates (templates/pre-install-job.yaml:391-403), with openssl for cfssl ----

async function openssl(dir: string, args: string[]): Promise<void> {
  try {
    await execFileAsync("openssl", args, { cwd: dir });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`openssl ${args[0]} failed: ${(e.stderr ?? e.message).trim()}`);
  }
}

/**
 * The pre-install Job's certificates: two CAs made by `openssl req -x509 -days 365` with the chart's subject (lines
 * 391-392; a year, whatever certs.auto.expiry says), and two leaves signed as cfssl signs them with the chart's
 * signing config (lines 393-396): the expiry, usages signing, key encipherment, client auth, server auth, the
 * rendered hosts as SANs, RSA keys of certs.auto.rsaSize bits.
 */
export async function chartCerts(values: Values, release: { name: string; namespace: string }): Promise<ChartCerts> {
  const auto = values.certs.auto;
  const bits = Number(auto.rsaSize);
  const days = expiryDays(auto.expiry);
  const san = subjectAltName(renderHosts(auto.hosts, release, values));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "testbed-karmada-certs-"));
  try {
    const ca = (name: string) =>
      openssl(dir, [
        "req",
        "-x509",
        "-sha256",
        "-new",
        "-nodes",
        "-days",
        "365",
        "-newkey",
        `rsa:${bits}`,
        "-keyout",
        `${name}.key`,
        "-out",
        `${name}.crt`,
        "-subj",
        "/C=xx/ST=x/L=x/O=x/OU=x/CN=ca/emailAddress=x/",
      ]);
    const leaf = async (name: string, cn: string, caName: string) => {
      await openssl(dir, [
        "req",
        "-new",
        "-nodes",
        "-newkey",
        `rsa:${bits}`,
        "-keyout",
        `${name}-key.pem`,
        "-out",
        `${name}.csr`,
        "-subj",
        `/O=system:masters/CN=${cn}`,
      ]);
      fs.writeFileSync(
        path.join(dir, `${name}.ext`),
        [
          "basicConstraints=critical,CA:FALSE",
          "keyUsage=critical,digitalSignature,keyEncipherment",
          "extendedKeyUsage=clientAuth,serverAuth",
          "subjectKeyIdentifier=hash",
          "authorityKeyIdentifier=keyid",
          `subjectAltName=${san}`,
          "",
        ].join("\n"),
      );
      await openssl(dir, [
        "x509",
        "-req",
        "-sha256",
        "-in",
        `${name}.csr`,
        "-CA",
        `${caName}.crt`,
        "-CAkey",
        `${caName}.key`,
        "-CAcreateserial",
        "-days",
        String(days),
        "-extfile",
        `${name}.ext`,
        "-out",
        `${name}.pem`,
      ]);
    };
    await Promise.all([
      ca("server-ca").then(() => leaf("karmada", "system:admin", "server-ca")),
      ca("front-proxy-ca").then(() => leaf("front-proxy-client", "front-proxy-client", "front-proxy-ca")),
    ]);
    const read = (f: string) => fs.readFileSync(path.join(dir, f), "utf8");
    return {
      caCrt: read("server-ca.crt"),
      caKey: read("server-ca.key"),
      crt: read("karmada.pem"),
      key: read("karmada-key.pem"),
      frontProxyCaCrt: read("front-proxy-ca.crt"),
      frontProxyCrt: read("front-proxy-client.pem"),
      frontProxyKey: read("front-proxy-client-key.pem"),
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// ---- the node's side: files and processes ----

interface NodeLayout {
  /** The state directory as the node's commands see it (root prefixed). */
  dir: string;
  paths: NodePaths;
  pidsFile: string;
  kubeconfig: string;
  logs: { etcd: string; apiserver: string; controllers: string };
}

function layout(req: ReleaseRequest, rel: Release): NodeLayout {
  const root = req.node.root;
  const dir = path.join(root, req.stateDir ?? DEFAULT_STATE_DIR, rel.namespace, rel.name);
  return {
    dir,
    // templates/etcd.yaml:111: the hostPath is fixed by the namespace (components/karmada/values.ts chartEtcdPath).
    paths: { pki: path.join(dir, "pki"), etcdData: path.join(root, "var/lib", rel.namespace, "karmada-etcd") },
    pidsFile: path.join(dir, "pids.json"),
    kubeconfig: path.join(dir, "karmada-apiserver.kubeconfig"),
    logs: {
      etcd: path.join(dir, "etcd.log"),
      apiserver: path.join(dir, "karmada-apiserver.log"),
      controllers: path.join(dir, "karmada-controllers.log"),
    },
  };
}

type Pids = Partial<Record<"etcd" | "apiserver" | "controllers", number>>;

async function writeNodeFile(node: KarmadaNode, file: string, content: string): Promise<void> {
  await node.run(["sh", "-c", 'umask 077 && mkdir -p -- "$(dirname -- "$1")" && cat >"$1"', "sh", file], content);
}

async function readPids(node: KarmadaNode, file: string): Promise<Pids> {
  const text = await node.run(["sh", "-c", 'cat -- "$1" 2>/dev/null || true', "sh", file]);
  return text.trim() === "" ? {} : (JSON.parse(text) as Pids);
}

/**
 * Whether `pid` runs on the node and is one of this release's (its command line names the state directory: a pid
 * reused by another process is not ours). A zombie counts as gone.
 */
async function alive(node: KarmadaNode, pid: number, dir: string): Promise<boolean> {
  const out = await node.run([
    "sh",
    "-c",
    '[ -r "/proc/$1/cmdline" ] || exit 0; s=$(cut -d" " -f3 "/proc/$1/stat" 2>/dev/null); [ "$s" != Z ] || exit 0; ' +
      'tr "\\0" " " <"/proc/$1/cmdline" | grep -qF -- "$2" && echo yes; true',
    "sh",
    String(pid),
    dir,
  ]);
  return out.trim() === "yes";
}

async function logTail(node: KarmadaNode, file: string): Promise<string> {
  return (await node.run(["sh", "-c", 'tail -n 12 -- "$1" 2>/dev/null || true', "sh", file])).trimEnd();
}

/**
 * SIGTERM now, SIGKILL after the grace period, as the kubelet stops a pod's containers: by a detached shell on the
 * node, so that this returns at once, as `helm uninstall` returns before the pods are gone.
 */
async function terminate(node: KarmadaNode, pids: number[], logFile: string): Promise<void> {
  if (pids.length === 0) return;
  const script =
    'g=$1; shift; kill -TERM "$@" 2>/dev/null; i=0; while [ "$i" -lt "$g" ]; do ' +
    'kill -0 "$@" 2>/dev/null || exit 0; sleep 1; i=$((i+1)); done; kill -KILL "$@" 2>/dev/null; true';
  await node.spawn(["sh", "-c", script, "sh", String(TERMINATION_GRACE_S), ...pids.map(String)], logFile);
}

/**
 * Waits (bounded by `deadline`) until the previous release's processes are gone: the chart's etcd is a StatefulSet
 * pod etcd-0, and a new etcd-0 is created only once the old one has terminated; the double's processes also share
 * the node's ports, which a pod's own network namespace would not.
 */
async function waitGone(node: KarmadaNode, l: NodeLayout, deadline: number): Promise<void> {
  const pids = Object.values(await readPids(node, l.pidsFile));
  for (;;) {
    const left = [];
    for (const pid of pids) if (await alive(node, pid, l.dir)) left.push(pid);
    if (left.length === 0) return;
    if (Date.now() > deadline) throw new Error(`the previous release's processes (pids ${left.join(", ")}) still run`);
    await sleep(POLL_MS);
  }
}

// ---- waiting, as helm --wait does, with what is not ready named ----

class NotReady extends Error {}

async function waitUntil(what: string, deadline: number, check: () => Promise<string | undefined>): Promise<void> {
  let last = "";
  for (;;) {
    try {
      const why = await check();
      if (why === undefined) return;
      last = why;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > deadline) throw new NotReady(`${what} is not ready (${last})`);
    await sleep(POLL_MS);
  }
}

function tlsAgent(c: ChartCerts): https.Agent {
  return new https.Agent({ ca: c.caCrt, cert: c.crt, key: c.key, keepAlive: true });
}

async function get(agent: https.Agent, url: string, timeoutMs: number): Promise<{ status: number; text: string }> {
  const r = await apiRequest({ url, method: "GET", agent, timeoutMs });
  return { status: r.status, text: r.text.trim() };
}

/** The PropagationPolicy CRD of v1.13.0 (charts/karmada/_crds/bases/policy/, vendored). */
const POLICY_CRD = path.join(REPO, "components/karmada/fixtures/policy.karmada.io_propagationpolicies.yaml");

/**
 * The static-resource Job's `kubectl apply -k /crds` (templates/karmada-static-resource-job.yaml:45), for the kinds the
 * sim serves: the vendored CRDs and Cluster (scripts/lib/karmadaDouble.ts clusterCrd; Karmada serves it from its
 * aggregated API server). An apply, not a create: on etcd data a previous release left (the hostPath outlives it) the
 * definitions exist already, and the Job succeeds.
 */
async function applyKarmadaKinds(karmada: KubeApiServer): Promise<void> {
  const crds = [YAML.parse(fs.readFileSync(POLICY_CRD, "utf8")), clusterCrd()] as {
    metadata: { name: string };
    spec: { group: string; versions: { name: string }[] };
  }[];
  for (const crd of crds) {
    const r = await karmada.request(
      "GET",
      `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}`,
    );
    if (r.status === 404) await karmada.installCrd(crd);
    else if (r.status !== 200) throw new Error(`CRD ${crd.metadata.name}: HTTP ${r.status}`);
  }
  // Served, as installCrd waits for a new one: an API server restarted on old data serves them a moment later.
  for (const crd of crds) {
    for (const v of crd.spec.versions) {
      const d = await karmada.request("GET", `/apis/${crd.spec.group}/${v.name}`);
      if (d.status !== 200) throw new Error(`${crd.spec.group}/${v.name} is not served yet`);
    }
  }
}

/** The helm.v3.Release's outputs as pulumi-kubernetes checkpoints them (helm_release.go setReleaseAttributes). */
function outputs(inputs: Record<string, unknown>, rel: Release): Record<string, unknown> {
  return {
    ...inputs,
    name: rel.name,
    namespace: rel.namespace,
    chart: inputs.chart,
    version: CHART.version,
    values: inputs.values ?? {},
    status: {
      name: rel.name,
      namespace: rel.namespace,
      chart: CHART.name,
      version: CHART.version,
      appVersion: CHART.appVersion,
      revision: 1,
      status: "deployed",
    },
  };
}

/**
 * `helm install --wait` of the Karmada chart, played: see the file's comment. Resolves the Release's outputs; rejects
 * with what was not ready when `timeout` seconds pass first (the release is then recorded failed and left running).
 */
export async function installKarmadaRelease(req: ReleaseRequest): Promise<Record<string, unknown>> {
  const started = Date.now();
  const rel = releaseOf(req.inputs);
  const deadline = started + rel.timeout * 1000;
  const log = req.log ?? (() => undefined);
  const { node } = req;
  const pinned = rel.values.etcd.internal.nodeSelector?.["kubernetes.io/hostname"];
  if (pinned !== undefined && pinned !== node.name) {
    throw new Error(
      `Karmada Release (sim): values.etcd.internal.nodeSelector pins etcd to node "${pinned}", but the release was ` +
        `given node "${node.name}": the pod would stay Pending`,
    );
  }
  const nodePort: number = rel.values.apiServer.nodePort;
  const ports = req.etcdPorts ?? { client: CHART_ETCD_CLIENT_PORT, peer: CHART_ETCD_PEER_PORT };
  const l = layout(req, rel);
  const host = hostApi(req.kubeconfig);
  const ns = `/api/v1/namespaces/${rel.namespace}`;
  try {
    // install.go availableName: any record of the name, whatever its status, stops a plain install.
    if ((await releaseRecords(host, rel)).length > 0) {
      throw new Error(
        `Karmada Release (sim): cannot re-use a name that is still in use (${rel.namespace}/${rel.name})`,
      );
    }
    const nsGet = await host.request("GET", ns);
    if (nsGet.status === 404) {
      if (!rel.createNamespace) throw new Error(`Karmada Release (sim): namespaces "${rel.namespace}" not found`);
      await host.must(
        `creating namespace ${rel.namespace}`,
        host.request("POST", "/api/v1/namespaces", {
          apiVersion: "v1",
          kind: "Namespace",
          metadata: { name: rel.namespace },
        }),
        [201, 409],
      );
    } else if (nsGet.status !== 200) {
      throw new Error(`namespace ${rel.namespace}: HTTP ${nsGet.status}: ${nsGet.body?.message ?? ""}`);
    }
    const first = new Date().toISOString();
    await writeRecord(host, rel, "pending-install", first, "Initial install underway");

    try {
      // Pre-install hook (templates/pre-install-job.yaml:339-447): certificates, then `kubectl apply --server-side`.
      const certs = await chartCerts(rel.values, rel);
      for (const s of chartSecrets(rel, rel.values, certs) as { metadata: { name: string } }[]) {
        await host.must(
          `applying Secret ${rel.namespace}/${s.metadata.name}`,
          host.request(
            "PATCH",
            `${ns}/secrets/${s.metadata.name}?fieldManager=kubectl`,
            s,
            "application/apply-patch+yaml",
          ),
          [200, 201],
        );
      }
      log(`karmada release: pre-install hook wrote ${rel.name}-cert, ${rel.name}-webhook-cert, ${rel.name}-kubeconfig`);

      // The release's objects: the pods' files, then etcd, then karmada-apiserver (whose init container waits for
      // etcd, karmada.initContainer.waitEtcd in templates/_helpers.tpl).
      await waitGone(node, l, deadline);
      for (const [f, pem] of [
        ["server-ca.crt", certs.caCrt],
        ["karmada.crt", certs.crt],
        ["karmada.key", certs.key],
        ["front-proxy-ca.crt", certs.frontProxyCaCrt],
        ["front-proxy-client.crt", certs.frontProxyCrt],
        ["front-proxy-client.key", certs.frontProxyKey],
      ] as const) {
        await writeNodeFile(node, path.join(l.paths.pki, f), pem);
      }
      // hostPath type DirectoryOrCreate (templates/etcd.yaml:112): the kubelet makes it 0755 when it is missing.
      await node.run(["mkdir", "-p", "-m", "0755", "--", l.paths.etcdData]);
      const pids: Pids = {};
      const savePids = () => writeNodeFile(node, l.pidsFile, JSON.stringify(pids));
      pids.etcd = await node.spawn([req.etcdBinary ?? "etcd", ...etcdArgs(l.paths, ports)], l.logs.etcd);
      await savePids();
      log(`karmada release: etcd started on ${node.name} (pid ${pids.etcd}, data ${l.paths.etcdData})`);

      const agent = tlsAgent(certs);
      const karmadaUrl = `https://${node.address.includes(":") ? `[${node.address}]` : node.address}:${nodePort}`;
      try {
        const exitedOf = (name: "etcd" | "apiserver" | "controllers", file: string) => async () => {
          const pid = pids[name];
          if (pid !== undefined && !(await alive(node, pid, l.dir))) {
            return `its process ${pid} exited; log:\n${await logTail(node, file)}`;
          }
          return undefined;
        };
        // A probe of a process: when it fails, the process's exit (and its log) says more than the probe's error,
        // and it is looked for after the probe too, since a probe that hangs outlasts the process.
        const probe =
          (name: "etcd" | "apiserver", file: string, check: () => Promise<string | undefined>) =>
          async (): Promise<string | undefined> => {
            let why: string | undefined;
            try {
              why = await check();
            } catch (err) {
              why = (err as Error).message;
            }
            if (why === undefined) return undefined;
            return (await exitedOf(name, file)()) ?? why;
          };
        const remaining = () => Math.max(1_000, Math.min(PROBE_TIMEOUT_MS, deadline - Date.now()));
        await waitUntil(
          `etcd (${node.address}:${ports.client})`,
          deadline,
          // Probed on the node, as the kubelet probes a pod: the operator reaches a node's NodePorts, not etcd.
          probe("etcd", l.logs.etcd, async () => {
            const text = await node.run([
              "curl",
              "-sS",
              "--max-time",
              String(Math.ceil(remaining() / 1000)),
              "--cacert",
              `${l.paths.pki}/server-ca.crt`,
              "--cert",
              `${l.paths.pki}/karmada.crt`,
              "--key",
              `${l.paths.pki}/karmada.key`,
              `https://127.0.0.1:${ports.client}/health`,
            ]);
            return (JSON.parse(text) as { health?: string }).health === "true" ? undefined : `/health: ${text}`;
          }),
        );

        // etcd's pod as the StatefulSet controller and the kubelet leave it on the host cluster: what
        // `doctor --stack` lists to find Karmada's etcd (components/etcd/probe.sh, by its labels and pod IP).
        await waitUntil(`the Pod ${rel.namespace}/${ETCD_POD} on the host cluster`, deadline, () =>
          putEtcdPod(host, rel, node, ports.client),
        );

        pids.apiserver = await node.spawn(
          [
            req.apiServerBinary ?? kubeApiServerBinary(),
            ...apiServerArgs(l.paths, rel.values, {
              etcdClientPort: ports.client,
              securePort: nodePort,
              advertise: req.advertiseAddress ?? node.address,
            }),
          ],
          l.logs.apiserver,
        );
        await savePids();
        log(`karmada release: karmada-apiserver started on ${node.name} (pid ${pids.apiserver}, port ${nodePort})`);
        await waitUntil(
          `karmada-apiserver (${karmadaUrl})`,
          deadline,
          probe("apiserver", l.logs.apiserver, async () => {
            const r = await get(agent, `${karmadaUrl}/readyz`, remaining());
            return r.status === 200 && r.text === "ok" ? undefined : `/readyz: HTTP ${r.status}`;
          }),
        );

        // The static-resource Job (templates/karmada-static-resource-job.yaml:44-57), waited for (--wait-for-jobs):
        // Karmada's kinds, its namespaces, the karmada-version ConfigMap, in Karmada's API.
        const karmada: KubeApiServer = {
          ...connectKubeApi(karmadaUrl, agent),
          url: karmadaUrl,
          caPem: certs.caCrt,
          kubeconfig: "",
          kubeconfigPath: l.kubeconfig,
          stateDir: l.dir,
          pids: { etcd: pids.etcd, apiserver: pids.apiserver },
          stop: async () => undefined,
        };
        await waitUntil("the static-resource job (Karmada's kinds in its API)", deadline, async () => {
          await applyKarmadaKinds(karmada);
          return undefined;
        });
        // _karmada_system_namespace.tpl: values.systemNamespace and karmada-cluster.
        for (const name of [rel.values.systemNamespace, "karmada-cluster"]) {
          const r = await karmada.request("POST", "/api/v1/namespaces", {
            apiVersion: "v1",
            kind: "Namespace",
            metadata: { name },
          });
          if (r.status !== 201 && r.status !== 409) throw new Error(`namespace ${name}: HTTP ${r.status}`);
        }
        const version = await karmada.request("POST", `/api/v1/namespaces/${rel.values.systemNamespace}/configmaps`, {
          apiVersion: "v1",
          kind: "ConfigMap",
          metadata: { name: "karmada-version", namespace: rel.values.systemNamespace },
          data: { karmadaVersion: String(rel.values.karmadaImageVersion) },
        });
        if (version.status !== 201 && version.status !== 409) {
          throw new Error(`ConfigMap karmada-version: HTTP ${version.status}`);
        }
        log("karmada release: static resources applied (Karmada's CRDs, Cluster, namespaces)");

        // The controllers (C2's double), with an admin kubeconfig that reaches the API from the node.
        if (fs.existsSync(CONTROLLERS_SOURCE)) {
          const kubeconfig = YAML.parse(
            (chartSecrets(rel, rel.values, certs)[2] as { stringData: { kubeconfig: string } }).stringData.kubeconfig,
          );
          kubeconfig.clusters[0].cluster.server = `https://127.0.0.1:${nodePort}`;
          await writeNodeFile(node, l.kubeconfig, YAML.stringify(kubeconfig));
          pids.controllers = await node.spawn(
            [
              process.execPath,
              path.join(REPO, "scripts/testbed.js"),
              "sim",
              "karmada-controllers",
              "--kubeconfig",
              l.kubeconfig,
            ],
            l.logs.controllers,
          );
          await savePids();
          log(`karmada release: karmada-controllers double started (pid ${pids.controllers})`);
        } else {
          log(`karmada release: no ${path.relative(REPO, CONTROLLERS_SOURCE)}: no controllers double started`);
        }

        // Every Deployment Available (the pods still running) before Helm calls the release deployed.
        await waitUntil("Karmada's processes", deadline, async () => {
          for (const [name, file] of [
            ["etcd", l.logs.etcd],
            ["apiserver", l.logs.apiserver],
            ["controllers", l.logs.controllers],
          ] as const) {
            const down = await exitedOf(name, file)();
            if (down !== undefined) return `${name}: ${down}`;
          }
          return undefined;
        });
      } finally {
        agent.destroy();
      }
      await writeRecord(host, rel, "deployed", first, "Install complete");
      log(`karmada release: deployed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      return outputs(req.inputs, rel);
    } catch (err) {
      // install.go failRelease: the record says failed, the objects stay.
      const message = (err as Error).message;
      await writeRecord(host, rel, "failed", first, `Release "${rel.name}" failed: ${message}`).catch(() => undefined);
      if (err instanceof NotReady) {
        throw new Error(
          `Helm Release ${rel.namespace}/${rel.name} (sim): not ready within ${rel.timeout} s: ${message}; the ` +
            `release is recorded failed and left as it is, as Helm leaves it after "context deadline exceeded"`,
        );
      }
      throw err;
    }
  } finally {
    host.close();
  }
}

/**
 * `helm uninstall --wait` of the Karmada release, played: see the file's comment. Rejects as Helm does when there is
 * no such release.
 */
export async function uninstallKarmadaRelease(req: ReleaseRequest): Promise<void> {
  const rel = releaseOf(req.inputs);
  const log = req.log ?? (() => undefined);
  const l = layout(req, rel);
  const host = hostApi(req.kubeconfig);
  const ns = `/api/v1/namespaces/${rel.namespace}`;
  try {
    const records = await releaseRecords(host, rel);
    if (records.length === 0) {
      throw new Error(`Karmada Release (sim): uninstall: Release not loaded: ${rel.name}: release: not found`);
    }
    // The release's objects (uninstall.go deleteRelease): the pods go, in their own time.
    const pids = await readPids(req.node, l.pidsFile);
    const running = [];
    for (const pid of Object.values(pids)) if (await alive(req.node, pid, l.dir)) running.push(pid);
    await terminate(req.node, running, path.join(l.dir, "terminate.log"));
    log(`karmada release: stopping pids ${running.join(", ") || "(none running)"}`);
    // etcd's pod goes with its StatefulSet.
    await host.must(
      `deleting Pod ${ETCD_POD}`,
      host.request("DELETE", `${ns}/pods/${ETCD_POD}`, {
        apiVersion: "v1",
        kind: "DeleteOptions",
        gracePeriodSeconds: 0,
      }),
      [200, 202, 404],
    );
    // The post-delete hook (templates/post-delete-job.yaml:47-52), `kubectl delete --ignore-not-found`.
    for (const o of postDeleteObjects(rel)) {
      await host.must(
        `deleting ${o.resource}/${o.name}`,
        host.request("DELETE", `${ns}/${o.resource}/${o.name}`),
        [200, 202, 404],
      );
    }
    // The release's records (uninstall.go purgeReleases, KeepHistory false).
    for (const r of records) {
      await host.must(`deleting ${r.name}`, host.request("DELETE", `${ns}/secrets/${r.name}`), [200, 202, 404]);
    }
    log(`karmada release: uninstalled; etcd's data stays at ${l.paths.etcdData}`);
  } finally {
    host.close();
  }
}
