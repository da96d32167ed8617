/**
 * The Kubernetes API behind the k3s double's server (scripts/sim/doubles/k3s): Debian's etcd and the cached
 * kube-apiserver, with certificates laid out as k3s lays them out. The double (Python) runs this once per start, as
 * `node scripts/sim/k3s-api.js --data-dir ...`: it makes what is missing under <data-dir>/server (kept across
 * restarts and reboots, removed by the uninstall script with the rest of the data dir) and prints, as JSON, the
 * command lines of etcd and kube-apiserver and the admin kubeconfig; the double starts and supervises the two.
 *
 * What it keeps of k3s (k3s-io/k3s; files named, functions cited where line numbers move between releases):
 * - pkg/daemons/control/deps/deps.go (at 09ac65a), CreateRuntimeCertFiles(): the file names under server/tls
 *   (server-ca, client-ca, serving-kube-apiserver, client-admin, service.key) and server/cred/admin.kubeconfig;
 *   genClientCerts(): the admin's certificate is CN=system:admin, O=system:masters, signed by the client CA;
 *   genServerCerts(): the serving certificate names kubernetes, kubernetes.default, kubernetes.default.svc and
 *   kubernetes.default.svc.cluster.local plus the server's SANs; each file is made only when missing.
 * - pkg/cli/server/server.go, run(): the SANs are 127.0.0.1, localhost, the hostname, the node IP, the first address
 *   of the service CIDR (the `kubernetes` Service's ClusterIP) and every `tls-san`.
 * - pkg/daemons/control/server.go (at 0103601), apiServer(): kube-apiserver's flags below.
 * - pkg/etcd/etcd.go: the embedded etcd keeps its data in <data-dir>/server/db/etcd.
 *
 * Where it differs, and why:
 * - kube-apiserver itself listens on 0.0.0.0:6443. In k3s it listens on 127.0.0.1:6444 and k3s's own listener on
 *   :6443 serves it together with the supervisor (join) API; the double serves the supervisor API on :9345 instead,
 *   as RKE2 does (see the double's header).
 * - etcd speaks plain HTTP on 127.0.0.1 at ETCD_CLIENT_PORT/ETCD_PEER_PORT, not TLS on 2379/2380 with the etcd
 *   CAs: only kube-apiserver, on the same host, is its client. Its metrics are where k3s serves them,
 *   http://127.0.0.1:2381/metrics (pkg/etcd/etcd.go, listen-metrics-urls), which `doctor --stack` reads.
 * - Keys are ECDSA P-256 (k3s: ECDSA for certificates, RSA for service.key); no scheduler, controller-manager,
 *   kubelet or request-header (aggregation) certificates, since none of those components runs.
 */
import { X509Certificate } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import {
  etcdArgs,
  kubeApiServerBinary,
  kubeconfigText,
  makeCa,
  makeLeafCert,
  makeSigningKey,
} from "../lib/kubeApiServer";

/** The API's port, k3s' (pkg/cli/server/server.go: HTTPSPort 6443). */
export const API_PORT = 6443;
/** etcd's client and peer ports here: k3s' 2379 and 2380 plus 10000 (see the header: 2379-2381 are taken). */
export const ETCD_CLIENT_PORT = 12379;
export const ETCD_PEER_PORT = 12380;
/** k3s's embedded etcd serves its metrics on 127.0.0.1:2381 (doctor's K3S_ETCD_METRICS_URL). */
export const ETCD_METRICS_PORT = 2381;
/** k3s' default service CIDR (pkg/cli/cmds/server.go, --service-cidr). */
export const DEFAULT_SERVICE_CIDR = "10.43.0.0/16";
/** The NodePort range kube-apiserver allocates from (its default; k3s passes the same). */
export const NODE_PORT_RANGE = "30000-32767";
const CLUSTER_DOMAIN = "cluster.local";
/** Validity: k3s' CAs are good for 10 years, its leaf certificates for 1 (dynamiclistener's defaults). */
const CA_DAYS = 3650;
const LEAF_DAYS = 365;

export interface ControlPlaneOptions {
  /** k3s' --data-dir (default /var/lib/rancher/k3s). */
  dataDir: string;
  hostname: string;
  /** The address the API is published at (node-ip, else the host's address). */
  nodeIp: string;
  /** config.yaml's tls-san. */
  tlsSans: string[];
  serviceCidr: string;
  /** kube-apiserver's path. Defaults to kubeApiServerBinary(). */
  binary?: string;
}

export interface ControlPlane {
  etcd: { argv: string[]; url: string };
  apiserver: { argv: string[]; url: string };
  /** /etc/rancher/k3s/k3s.yaml's text: the admin's certificate and key embedded (a secret). */
  kubeconfig: string;
  /** The server CA and the admin's client certificate and key files, for the double's readiness check. */
  files: { ca: string; adminCert: string; adminKey: string };
}

/** The first host address of an IPv4 CIDR: the `kubernetes` Service's ClusterIP. */
export function firstAddress(cidr: string): string {
  const [ip, bits] = cidr.split("/");
  const n = ip.split(".").reduce((a, o) => a * 256 + Number(o), 0);
  const mask = Number(bits) === 0 ? 0 : 2 ** 32 - 2 ** (32 - Number(bits));
  const first = ((n & mask) >>> 0) + 1;
  return [24, 16, 8, 0].map((s) => String(Math.floor(first / 2 ** s) % 256)).join(".");
}

/** The serving certificate's subjectAltNames, in openssl's form, without duplicates. */
export function servingAltNames(o: Pick<ControlPlaneOptions, "hostname" | "nodeIp" | "tlsSans" | "serviceCidr">) {
  const dns = [
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    `kubernetes.default.svc.${CLUSTER_DOMAIN}`,
    "localhost",
    o.hostname,
  ];
  const ips = ["127.0.0.1", o.nodeIp, firstAddress(o.serviceCidr)];
  for (const san of o.tlsSans) (/^[\d.]+$/.test(san) || san.includes(":") ? ips : dns).push(san);
  return [...new Set([...dns.map((d) => `DNS:${d}`), ...ips.map((i) => `IP:${i}`)])];
}

/** Whether a certificate file names every SAN asked for (k3s adds a new tls-san to its serving certificate). */
function coversAltNames(certFile: string, altNames: string[]): boolean {
  const have = new Set(
    (new X509Certificate(fs.readFileSync(certFile)).subjectAltName ?? "")
      .split(", ")
      .map((s) => s.replace(/^IP Address:/, "IP:")),
  );
  return altNames.every((a) => have.has(a));
}

/** kube-apiserver's flags as k3s sets them (pkg/daemons/control/server.go at 0103601, apiServer()). */
export function k3sApiServerArgs(server: string, etcdUrl: string, o: ControlPlaneOptions): string[] {
  const tls = (f: string) => path.join(server, "tls", f);
  const issuer = `https://kubernetes.default.svc.${CLUSTER_DOMAIN}`;
  return [
    "--storage-backend=etcd3",
    `--etcd-servers=${etcdUrl}`,
    `--cert-dir=${tls("temporary-certs")}`,
    "--allow-privileged=true",
    "--authorization-mode=Node,RBAC",
    `--service-account-signing-key-file=${tls("service.key")}`,
    `--service-account-key-file=${tls("service.key")}`,
    `--service-account-issuer=${issuer}`,
    `--api-audiences=${issuer},k3s`,
    `--service-cluster-ip-range=${o.serviceCidr}`,
    `--service-node-port-range=${NODE_PORT_RANGE}`,
    `--advertise-address=${o.nodeIp}`,
    "--bind-address=0.0.0.0",
    `--secure-port=${API_PORT}`,
    `--tls-cert-file=${tls("serving-kube-apiserver.crt")}`,
    `--tls-private-key-file=${tls("serving-kube-apiserver.key")}`,
    `--client-ca-file=${tls("client-ca.crt")}`,
    "--enable-admission-plugins=NodeRestriction",
    "--anonymous-auth=false",
    "--profiling=false",
  ];
}

/** k3s' kubeconfig template for server/cred/*.kubeconfig (deps.go, kubeconfigTemplate): files, not data. */
function credKubeconfig(url: string, ca: string, cert: string, key: string): string {
  return `apiVersion: v1
clusters:
- cluster:
    server: ${url}
    certificate-authority: ${ca}
  name: local
contexts:
- context:
    cluster: local
    namespace: default
    user: user
  name: Default
current-context: Default
kind: Config
preferences: {}
users:
- name: user
  user:
    client-certificate: ${cert}
    client-key: ${key}
`;
}

/** Makes what is missing under <data-dir>/server and returns what the double starts. */
export async function prepareControlPlane(o: ControlPlaneOptions): Promise<ControlPlane> {
  const server = path.join(o.dataDir, "server");
  const tls = path.join(server, "tls");
  const cred = path.join(server, "cred");
  for (const d of [server, tls, cred, path.join(tls, "temporary-certs")])
    fs.mkdirSync(d, { recursive: true, mode: 0o700 });
  const has = (f: string) => fs.existsSync(path.join(tls, f));
  // deps.go: a CA made anew invalidates everything it signed (createSigningCertKey's regen).
  const newServerCa = !has("server-ca.crt");
  if (newServerCa) await makeCa(tls, "server-ca", "k3s-server-ca", CA_DAYS);
  const newClientCa = !has("client-ca.crt");
  if (newClientCa) await makeCa(tls, "client-ca", "k3s-client-ca", CA_DAYS);
  const altNames = servingAltNames(o);
  if (
    newServerCa ||
    !has("serving-kube-apiserver.crt") ||
    !coversAltNames(path.join(tls, "serving-kube-apiserver.crt"), altNames)
  ) {
    await makeLeafCert(tls, {
      name: "serving-kube-apiserver",
      ca: "server-ca",
      commonName: "kube-apiserver",
      altNames,
      usage: "serverAuth",
      days: LEAF_DAYS,
    });
  }
  if (newClientCa || !has("client-admin.crt")) {
    await makeLeafCert(tls, {
      name: "client-admin",
      ca: "client-ca",
      commonName: "system:admin",
      organization: "system:masters",
      usage: "clientAuth",
      days: LEAF_DAYS,
    });
  }
  if (!has("service.key")) await makeSigningKey(tls, "service.key");
  for (const f of fs.readdirSync(tls)) if (f.endsWith(".key")) fs.chmodSync(path.join(tls, f), 0o600);

  const url = `https://127.0.0.1:${API_PORT}`;
  const files = {
    ca: path.join(tls, "server-ca.crt"),
    adminCert: path.join(tls, "client-admin.crt"),
    adminKey: path.join(tls, "client-admin.key"),
  };
  fs.writeFileSync(
    path.join(cred, "admin.kubeconfig"),
    credKubeconfig(url, files.ca, files.adminCert, files.adminKey),
    { mode: 0o600 },
  );
  const read = (f: string) => fs.readFileSync(f, "utf8");
  const etcdUrl = `http://127.0.0.1:${ETCD_CLIENT_PORT}`;
  return {
    etcd: {
      argv: [
        "etcd",
        ...etcdArgs(o.hostname, path.join(server, "db", "etcd"), etcdUrl, `http://127.0.0.1:${ETCD_PEER_PORT}`),
        `--listen-metrics-urls=http://127.0.0.1:${ETCD_METRICS_PORT}`,
      ],
      url: etcdUrl,
    },
    apiserver: { argv: [o.binary ?? kubeApiServerBinary(), ...k3sApiServerArgs(server, etcdUrl, o)], url },
    // pkg/cli/server/server.go writes k3s.yaml with the data embedded, all names "default".
    kubeconfig: kubeconfigText(
      url,
      read(files.ca),
      { certPem: read(files.adminCert), keyPem: read(files.adminKey) },
      { cluster: "default", user: "default" },
    ),
    files,
  };
}

/** `node scripts/sim/k3s-api.js --data-dir D --hostname H --node-ip IP --service-cidr C [--tls-san S]... [--binary B]` */
export async function main(argv: string[]): Promise<void> {
  const args = argv.slice(2);
  const one = (flag: string): string | undefined => {
    const i = args.indexOf(flag);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const need = (flag: string): string => {
    const v = one(flag);
    if (v === undefined || v === "") throw new Error(`k3s-api: ${flag} is required`);
    return v;
  };
  const plan = await prepareControlPlane({
    dataDir: need("--data-dir"),
    hostname: need("--hostname"),
    nodeIp: need("--node-ip"),
    serviceCidr: one("--service-cidr") || DEFAULT_SERVICE_CIDR,
    tlsSans: args.flatMap((a, i) => (a === "--tls-san" ? [args[i + 1]] : [])),
    binary: one("--binary") || undefined,
  });
  process.stdout.write(`${JSON.stringify(plan)}\n`);
}
