/**
 * What Karmada's Helm chart 1.13.0 renders, as far as the sim's double of its Release (release.ts) needs it: the
 * values Helm computes, the certificates' hosts, the Secrets the pre-install Job writes, and the command lines of the
 * internal etcd and of karmada-apiserver. Pure functions; each cites the chart file and line it copies, at
 * karmada-io/karmada v1.13.0 (commit ecc12b4ce8da8584c4c63d8ec81c6c944f4fb6b2, charts/karmada/). The templates are
 * not vendored (components/karmada/fixtures/README.md lists what is); values.yaml and etcd.yaml are.
 */
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { parse } from "yaml";

const FIXTURES = path.join(__dirname, "../../../components/karmada/fixtures");

/**
 * The chart's metadata as `helm install --version 1.13.0` finds it: Chart.yaml at the tag says version 0.0.0 and
 * appVersion v1.1.0; hack/package-helm-chart.sh:49 packages it with `--version v1.13.0` (appVersion untouched).
 */
export const CHART = { name: "karmada", version: "v1.13.0", appVersion: "v1.1.0" } as const;
/** Versions a Release may ask for and get this chart: Helm matches "1.13.0" against the index's "v1.13.0". */
export const CHART_VERSIONS = ["1.13.0", "v1.13.0"];

/** Port karmada-apiserver serves on in its pod (templates/karmada-apiserver.yaml:59, and :167 the Service's port). */
export const CHART_API_PORT = 5443;
/** The etcd pod's client and peer ports (fixtures/etcd.yaml:66-71). */
export const CHART_ETCD_CLIENT_PORT = 2379;
export const CHART_ETCD_PEER_PORT = 2380;

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- Helm values are arbitrary YAML
export type Values = Record<string, any>;

const isMap = (v: unknown): v is Values => v !== null && typeof v === "object" && !Array.isArray(v);

/**
 * Helm's coalescing of user values over the chart's (helm pkg/chartutil/coalesce.go): maps merge key by key, any
 * other user value (a list included) replaces the chart's, and a user null deletes the chart's key.
 */
export function coalesce(chart: Values, user: Values): Values {
  const out: Values = { ...chart };
  for (const [k, v] of Object.entries(user)) {
    if (v === null) delete out[k];
    else if (isMap(v) && isMap(out[k])) out[k] = coalesce(out[k], v);
    else out[k] = v;
  }
  return out;
}

/** The chart's values.yaml (vendored, fixtures/values.yaml). */
export function chartDefaults(): Values {
  return parse(fs.readFileSync(path.join(FIXTURES, "values.yaml"), "utf8")) as Values;
}

/** The values the chart's templates see: the chart's defaults with the Release's values over them. */
export function effectiveValues(user: Values): Values {
  return coalesce(chartDefaults(), user);
}

/**
 * certs.auto.hosts rendered as the pre-install Job does (`tpl (toJson .Values.certs.auto.hosts) .`,
 * templates/pre-install-job.yaml:394). Only the expressions the chart's own defaults use are known here; any other
 * template is an error rather than a guess.
 */
export function renderHosts(hosts: unknown, release: { name: string; namespace: string }, values: Values): string[] {
  if (!Array.isArray(hosts)) throw new Error("certs.auto.hosts is not a list");
  const known: Record<string, string> = {
    ".Release.Namespace": release.namespace,
    ".Release.Name": release.name,
    ".Values.clusterDomain": String(values.clusterDomain),
  };
  return hosts.map((h) =>
    String(h).replace(/\{\{-?\s*([^}]*?)\s*-?\}\}/g, (whole, expr: string) => {
      const v = known[expr];
      if (v === undefined) throw new Error(`certs.auto.hosts: ${JSON.stringify(whole)} is beyond this double's tpl`);
      return v;
    }),
  );
}

/**
 * The subjectAltName cfssl gives a certificate request's hosts (cfssl csr.ParseRequest): an IP address as an IP SAN,
 * an e-mail address as an e-mail SAN, anything else as a DNS name (wildcards included).
 */
export function subjectAltName(hosts: string[]): string {
  return hosts.map((h) => (net.isIP(h) !== 0 ? `IP:${h}` : h.includes("@") ? `email:${h}` : `DNS:${h}`)).join(",");
}

/**
 * certs.auto.expiry (a Go duration, cfssl's signing expiry) as whole days for `openssl x509 -days`. Only durations
 * of whole days are taken (the chart's default and the program's are 43800h): anything else is an error, not a
 * rounded certificate.
 */
export function expiryDays(expiry: unknown): number {
  const m = /^(\d+)h$/.exec(String(expiry));
  if (m === null || Number(m[1]) % 24 !== 0 || Number(m[1]) === 0) {
    throw new Error(
      `certs.auto.expiry: ${JSON.stringify(expiry)} is not a whole number of days in hours (e.g. 43800h)`,
    );
  }
  return Number(m[1]) / 24;
}

/** The PEMs the pre-install Job makes (templates/pre-install-job.yaml:391-403). */
export interface ChartCerts {
  caCrt: string;
  caKey: string;
  crt: string;
  key: string;
  frontProxyCaCrt: string;
  frontProxyCrt: string;
  frontProxyKey: string;
}

const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");

/**
 * The Admin kubeconfig the pre-install Job writes into Secret <name>-kubeconfig (templates/pre-install-job.yaml:
 * 282-307): the CA and the karmada certificate and key embedded, server the apiserver's Service inside the cluster.
 */
export function chartKubeconfig(release: { name: string; namespace: string }, values: Values, c: ChartCerts): string {
  const n = `${release.name}-apiserver`;
  const server = `https://${n}.${release.namespace}.svc.${values.clusterDomain}:${CHART_API_PORT}`;
  return [
    "apiVersion: v1",
    "kind: Config",
    "clusters:",
    "  - cluster:",
    `      certificate-authority-data: ${b64(c.caCrt)}`,
    `      server: ${server}`,
    `    name: ${n}`,
    "users:",
    "  - user:",
    `      client-certificate-data: ${b64(c.crt)}`,
    `      client-key-data: ${b64(c.key)}`,
    `    name: ${n}`,
    "contexts:",
    "  - context:",
    `      cluster: ${n}`,
    `      user: ${n}`,
    `    name: ${n}`,
    `current-context: ${n}`,
  ].join("\n");
}

/**
 * The three Secrets the pre-install Job applies to the host cluster with `kubectl apply --server-side`
 * (templates/pre-install-job.yaml:248-307 and :435): <name>-cert, <name>-webhook-cert, <name>-kubeconfig.
 */
export function chartSecrets(release: { name: string; namespace: string }, values: Values, c: ChartCerts): object[] {
  const meta = (name: string) => ({ name, namespace: release.namespace });
  return [
    {
      apiVersion: "v1",
      kind: "Secret",
      metadata: meta(`${release.name}-cert`),
      type: "Opaque",
      data: {
        "server-ca.crt": b64(c.caCrt),
        "server-ca.key": b64(c.caKey),
        "karmada.crt": b64(c.crt),
        "karmada.key": b64(c.key),
        "front-proxy-ca.crt": b64(c.frontProxyCaCrt),
        "front-proxy-client.crt": b64(c.frontProxyCrt),
        "front-proxy-client.key": b64(c.frontProxyKey),
      },
    },
    {
      apiVersion: "v1",
      kind: "Secret",
      metadata: meta(`${release.name}-webhook-cert`),
      type: "kubernetes.io/tls",
      data: { "tls.crt": b64(c.crt), "tls.key": b64(c.key) },
    },
    {
      apiVersion: "v1",
      kind: "Secret",
      metadata: meta(`${release.name}-kubeconfig`),
      stringData: { kubeconfig: chartKubeconfig(release, values, c) },
    },
  ];
}

/**
 * What the post-delete hook deletes on the host cluster (templates/post-delete-job.yaml:47-52): everything in the
 * <name>-config ConfigMap (the three Secrets above and the static-resources and crds-patches ConfigMaps), that
 * ConfigMap itself, and a <name>-controller-manager Deployment. The CRDs of line 49 live in Karmada's API, not on the
 * host: the delete finds nothing there (--ignore-not-found).
 */
export function postDeleteObjects(release: { name: string }): { resource: string; name: string }[] {
  return [
    { resource: "secrets", name: `${release.name}-cert` },
    { resource: "secrets", name: `${release.name}-webhook-cert` },
    { resource: "secrets", name: `${release.name}-kubeconfig` },
    { resource: "configmaps", name: `${release.name}-static-resources` },
    { resource: "configmaps", name: `${release.name}-crds-patches` },
    { resource: "configmaps", name: `${release.name}-config` },
  ];
}

/** Where the pod's Secret volume and the node's own paths are, for the command lines below. */
export interface NodePaths {
  /** The <name>-cert Secret's files (server-ca.crt, karmada.crt, ...), as the pods mount it. */
  pki: string;
  /** The hostPath of etcd's data (templates/etcd.yaml:111). */
  etcdData: string;
}

/**
 * The internal etcd's command line (fixtures/etcd.yaml:81-103), run on the node instead of in a pod: the pod's own
 * network namespace gave it ports 2379/2380 on 0.0.0.0 and names under the etcd Service; on a node that already runs
 * a cluster's etcd those ports may be taken, so they are parameters, and the peer URL is the loopback address (the
 * chart's etcd-0.etcd.<ns>.svc name resolves only inside the cluster). Everything else is the chart's.
 */
export function etcdArgs(p: NodePaths, ports: { client: number; peer: number }): string[] {
  const peer = `http://127.0.0.1:${ports.peer}`;
  return [
    "--name",
    "etcd-0",
    "--listen-peer-urls",
    `http://0.0.0.0:${ports.peer}`,
    "--listen-client-urls",
    `https://0.0.0.0:${ports.client}`,
    "--advertise-client-urls",
    `https://127.0.0.1:${ports.client}`,
    "--initial-advertise-peer-urls",
    peer,
    "--initial-cluster",
    `etcd-0=${peer}`,
    "--initial-cluster-state",
    "new",
    `--cert-file=${p.pki}/karmada.crt`,
    "--client-cert-auth=true",
    `--key-file=${p.pki}/karmada.key`,
    `--trusted-ca-file=${p.pki}/server-ca.crt`,
    `--data-dir=${p.etcdData}`,
    "--cipher-suites=TLS_RSA_WITH_AES_128_CBC_SHA,TLS_RSA_WITH_AES_256_CBC_SHA,TLS_RSA_WITH_AES_128_GCM_SHA256," +
      "TLS_RSA_WITH_AES_256_GCM_SHA384,TLS_AES_128_GCM_SHA256,TLS_AES_256_GCM_SHA384,TLS_CHACHA20_POLY1305_SHA256," +
      "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA," +
      "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256," +
      "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256," +
      "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256," +
      "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305," +
      "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
  ];
}

/**
 * karmada-apiserver's command line (templates/karmada-apiserver.yaml:38-75) on the node: the chart's flags, the
 * Secret's files at `p.pki`, etcd at the loopback address instead of the etcd-client Service (:55), and the secure
 * port the NodePort instead of 5443 behind a Service (:59, :164-169): nothing routes a NodePort to a process here.
 * `advertise` is the pod's IP in a cluster; on the node, the node's address.
 */
export function apiServerArgs(
  p: NodePaths,
  values: Values,
  opts: { etcdClientPort: number; securePort: number; advertise?: string },
): string[] {
  return [
    "--allow-privileged=true",
    "--authorization-mode=Node,RBAC",
    `--client-ca-file=${p.pki}/server-ca.crt`,
    "--disable-admission-plugins=StorageObjectInUseProtection,ServiceAccount",
    "--enable-bootstrap-token-auth=true",
    `--etcd-cafile=${p.pki}/server-ca.crt`,
    `--etcd-certfile=${p.pki}/karmada.crt`,
    `--etcd-keyfile=${p.pki}/karmada.key`,
    `--etcd-servers=https://127.0.0.1:${opts.etcdClientPort}`,
    "--bind-address=0.0.0.0",
    ...(opts.advertise === undefined ? [] : [`--advertise-address=${opts.advertise}`]),
    "--runtime-config=",
    `--secure-port=${opts.securePort}`,
    `--service-account-issuer=https://kubernetes.default.svc.${values.clusterDomain}`,
    `--service-account-key-file=${p.pki}/karmada.key`,
    `--service-account-signing-key-file=${p.pki}/karmada.key`,
    `--service-cluster-ip-range=${values.apiServer.serviceClusterIPRange}`,
    `--proxy-client-cert-file=${p.pki}/front-proxy-client.crt`,
    `--proxy-client-key-file=${p.pki}/front-proxy-client.key`,
    "--requestheader-allowed-names=front-proxy-client",
    `--requestheader-client-ca-file=${p.pki}/front-proxy-ca.crt`,
    "--requestheader-extra-headers-prefix=X-Remote-Extra-",
    "--requestheader-group-headers=X-Remote-Group",
    "--requestheader-username-headers=X-Remote-User",
    `--tls-cert-file=${p.pki}/karmada.crt`,
    `--tls-private-key-file=${p.pki}/karmada.key`,
    `--max-requests-inflight=${values.apiServer.maxRequestsInflight}`,
    `--max-mutating-requests-inflight=${values.apiServer.maxMutatingRequestsInflight}`,
    "--tls-min-version=VersionTLS13",
  ];
}

/**
 * The values this double can play, each an error naming the key when it cannot (the chart would render something
 * else: a pvc, an external etcd, a ClusterIP service, custom certificates). Empty when all is supported.
 */
export function unsupportedValues(values: Values): string[] {
  const errors: string[] = [];
  const want = (key: string, actual: unknown, expected: unknown) => {
    if (actual !== expected) {
      errors.push(`${key}: ${JSON.stringify(actual)} is not played by the sim (only ${JSON.stringify(expected)})`);
    }
  };
  want("installMode", values.installMode, "host");
  want("certs.mode", values.certs?.mode, "auto");
  want("etcd.mode", values.etcd?.mode, "internal");
  want("etcd.internal.storageType", values.etcd?.internal?.storageType, "hostPath");
  want("etcd.internal.replicaCount", values.etcd?.internal?.replicaCount, 1);
  want("apiServer.serviceType", values.apiServer?.serviceType, "NodePort");
  want("apiServer.hostNetwork", values.apiServer?.hostNetwork, false);
  const port = values.apiServer?.nodePort;
  if (!Number.isInteger(port) || port < 30000 || port > 32767) {
    // 0 lets Kubernetes pick a port (values.yaml:429-432); the double has no allocator, and the program sets one.
    errors.push(`apiServer.nodePort: ${JSON.stringify(port)} is not a NodePort (30000-32767) the sim can listen on`);
  }
  return errors;
}
