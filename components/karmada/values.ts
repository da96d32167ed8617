/**
 * Helm values for the Karmada chart 1.13.0, as the original testbed's values.yml set them (README, "Karmada"), with
 * only keys the chart declares: Helm ignores an unknown key silently, so values.test.ts checks every key against the
 * chart's own values.yaml (fixtures/).
 */

/** The namespace the original testbed installed the release into (`helm upgrade --install ... -n karmada-system`). */
export const KARMADA_NAMESPACE = "karmada-system";
/** The release name the original testbed used; the chart names every object after it (karmada-apiserver, ...). */
export const KARMADA_RELEASE = "karmada";
/** Certificate lifetime of the original values.yml (five years, also the chart's default). */
export const KARMADA_CERT_EXPIRY = "43800h";
/** The port karmada-apiserver listens on inside the cluster (chart templates/karmada-apiserver.yaml, port 5443). */
export const KARMADA_API_PORT = 5443;

/**
 * The chart's default certificate hosts (values.yaml, certs.auto.hosts): the chart renders them with `tpl`, so the
 * template expressions stay as they are. Setting the list replaces the default, hence the copy.
 */
export const CHART_CERT_HOSTS = [
  "kubernetes.default.svc",
  "*.etcd.{{ .Release.Namespace }}.svc.{{ .Values.clusterDomain }}",
  "*.{{ .Release.Namespace }}.svc.{{ .Values.clusterDomain }}",
  "*.{{ .Release.Namespace }}.svc",
  "localhost",
  "127.0.0.1",
] as const;

/**
 * Where chart 1.13.0 keeps its internal etcd's data with storageType hostPath: templates/etcd.yaml hard-codes
 * `/var/lib/{{ include "karmada.namespace" . }}/karmada-etcd` and the namespace is the release's. No value moves it.
 */
export function chartEtcdPath(namespace: string): string {
  return `/var/lib/${namespace}/karmada-etcd`;
}

/**
 * An error message when the spec's etcdPath is not where the chart will put etcd (the disk gate would then measure
 * the wrong disk), or undefined when it is.
 */
export function etcdPathError(etcdPath: string, namespace: string = KARMADA_NAMESPACE): string | undefined {
  const actual = chartEtcdPath(namespace);
  if (etcdPath.replace(/\/+$/, "") === actual) return undefined;
  return (
    `karmada.etcdPath: "${etcdPath}" is not where the Karmada chart keeps etcd: chart 1.13.0 puts it at ` +
    `/var/lib/<namespace>/karmada-etcd, here "${actual}"; set etcdPath to "${actual}" so the disk gate measures it`
  );
}

export interface KarmadaValuesArgs {
  /** The address members and users reach the Karmada API at; added to the certificate's hosts. */
  hostAddress: string;
  /** NodePort of karmada-apiserver (30000-32767). */
  apiNodePort: number;
  /** Node name of the mgmt cluster's server: etcd's hostPath must be on the disk the gate measured. Optional. */
  etcdNode?: string;
}

/** The values for `helm install karmada` (chart 1.13.0). */
export function karmadaHelmValues(args: KarmadaValuesArgs): Record<string, unknown> {
  if (!Number.isInteger(args.apiNodePort) || args.apiNodePort < 30000 || args.apiNodePort > 32767) {
    throw new Error(`karmada.apiNodePort: ${args.apiNodePort} is not a NodePort (30000-32767)`);
  }
  if (args.hostAddress.trim() === "") throw new Error("karmada: the host address is empty");
  const hosts: string[] = [...CHART_CERT_HOSTS];
  if (!hosts.includes(args.hostAddress)) hosts.push(args.hostAddress);
  return {
    installMode: "host",
    certs: { mode: "auto", auto: { expiry: KARMADA_CERT_EXPIRY, hosts } },
    // karmada-search serves the proxy API the MLSysOps CLI calls (/apis/search.karmada.io/v1alpha1/proxying/...).
    components: ["search"],
    apiServer: { serviceType: "NodePort", nodePort: args.apiNodePort },
    etcd: {
      mode: "internal",
      internal: {
        storageType: "hostPath",
        ...(args.etcdNode === undefined ? {} : { nodeSelector: { "kubernetes.io/hostname": args.etcdNode } }),
      },
    },
  };
}
