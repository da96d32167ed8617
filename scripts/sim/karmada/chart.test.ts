import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { karmadaHelmValues } from "../../../components/karmada/values";
import {
  apiServerArgs,
  chartKubeconfig,
  chartSecrets,
  coalesce,
  effectiveValues,
  etcdArgs,
  expiryDays,
  renderHosts,
  subjectAltName,
  unsupportedValues,
} from "./chart";

const release = { name: "karmada", namespace: "karmada-system" };
const programValues = () => karmadaHelmValues({ hostAddress: "198.19.0.10", apiNodePort: 32443, etcdNode: "mgmt" });
const certs = {
  caCrt: "CA",
  caKey: "CAKEY",
  crt: "CRT",
  key: "KEY",
  frontProxyCaCrt: "FPCA",
  frontProxyCrt: "FPCRT",
  frontProxyKey: "FPKEY",
};

describe("coalesce (Helm's values merge)", () => {
  it("merges maps, replaces lists and scalars, and deletes on null", () => {
    expect(
      coalesce({ a: { b: 1, c: [1, 2] }, d: "x", e: 1 }, { a: { c: [3] }, d: { y: 1 }, e: null, f: false }),
    ).toEqual({ a: { b: 1, c: [3] }, d: { y: 1 }, f: false });
  });

  it("keeps the chart's defaults where the program sets nothing", () => {
    const v = effectiveValues(programValues());
    expect(v.apiServer).toMatchObject({
      serviceType: "NodePort",
      nodePort: 32443,
      serviceClusterIPRange: "10.96.0.0/12",
    });
    expect(v.certs.auto.rsaSize).toBe(3072);
    expect(v.etcd.internal).toMatchObject({
      storageType: "hostPath",
      replicaCount: 1,
      nodeSelector: { "kubernetes.io/hostname": "mgmt" },
    });
    expect(v.clusterDomain).toBe("cluster.local");
  });
});

describe("the certificates' hosts", () => {
  it("renders the chart's template hosts and keeps the program's address", () => {
    const v = effectiveValues(programValues());
    expect(renderHosts(v.certs.auto.hosts, release, v)).toEqual([
      "kubernetes.default.svc",
      "*.etcd.karmada-system.svc.cluster.local",
      "*.karmada-system.svc.cluster.local",
      "*.karmada-system.svc",
      "localhost",
      "127.0.0.1",
      "198.19.0.10",
    ]);
  });

  it("refuses a template it does not know instead of guessing", () => {
    expect(() => renderHosts(["{{ .Values.other }}"], release, { clusterDomain: "x" })).toThrow(/beyond this double/);
  });

  it("gives IPs, e-mail addresses and names the SAN kinds cfssl gives them", () => {
    expect(subjectAltName(["127.0.0.1", "*.a.svc", "x@y", "::1"])).toBe("IP:127.0.0.1,DNS:*.a.svc,email:x@y,IP:::1");
  });

  it("takes an expiry of whole days in hours only", () => {
    expect(expiryDays("43800h")).toBe(1825);
    expect(() => expiryDays("30m")).toThrow(/whole number of days/);
    expect(() => expiryDays("25h")).toThrow(/whole number of days/);
  });
});

describe("the pre-install Job's Secrets", () => {
  it("are the chart's three, with its keys and its in-cluster server", () => {
    const [cert, webhook, kubeconfig] = chartSecrets(release, effectiveValues(programValues()), certs) as {
      metadata: { name: string };
      type?: string;
      data?: Record<string, string>;
      stringData?: Record<string, string>;
    }[];
    expect(cert.metadata.name).toBe("karmada-cert");
    expect(Buffer.from(cert.data?.["karmada.key"] ?? "", "base64").toString()).toBe("KEY");
    expect(Object.keys(cert.data ?? {})).toHaveLength(7);
    expect(webhook).toMatchObject({ metadata: { name: "karmada-webhook-cert" }, type: "kubernetes.io/tls" });
    expect(kubeconfig.metadata.name).toBe("karmada-kubeconfig");
    const k = parse(kubeconfig.stringData?.kubeconfig ?? "");
    expect(k["current-context"]).toBe("karmada-apiserver");
    expect(k.clusters[0].cluster.server).toBe("https://karmada-apiserver.karmada-system.svc.cluster.local:5443");
    expect(Buffer.from(k.users[0].user["client-certificate-data"], "base64").toString()).toBe("CRT");
  });

  it("kubeconfig text is what the chart's template renders", () => {
    expect(chartKubeconfig(release, { clusterDomain: "cluster.local" }, certs).split("\n")[3]).toBe("  - cluster:");
  });
});

describe("the processes' command lines", () => {
  const paths = { pki: "/s/pki", etcdData: "/var/lib/karmada-system/karmada-etcd" };

  it("etcd: the chart's TLS and client-cert flags, data on the hostPath, ports given", () => {
    const a = etcdArgs(paths, { client: 12379, peer: 12380 });
    expect(a).toContain("--client-cert-auth=true");
    expect(a).toContain(`--data-dir=${paths.etcdData}`);
    expect(a).toContain("https://0.0.0.0:12379");
    expect(a[a.indexOf("--initial-cluster") + 1]).toBe("etcd-0=http://127.0.0.1:12380");
  });

  it("karmada-apiserver: client-cert auth by the chart's CA, the NodePort as its port", () => {
    const a = apiServerArgs(paths, effectiveValues(programValues()), { etcdClientPort: 12379, securePort: 32443 });
    expect(a).toContain("--client-ca-file=/s/pki/server-ca.crt");
    expect(a).toContain("--secure-port=32443");
    expect(a).toContain("--bind-address=0.0.0.0");
    expect(a).toContain("--etcd-servers=https://127.0.0.1:12379");
    expect(a).toContain("--authorization-mode=Node,RBAC");
    expect(a.some((x) => x.startsWith("--advertise-address"))).toBe(false);
  });
});

describe("unsupportedValues", () => {
  it("accepts the program's values", () => {
    expect(unsupportedValues(effectiveValues(programValues()))).toEqual([]);
  });

  it("names each value the sim does not play", () => {
    const v = effectiveValues({
      ...programValues(),
      apiServer: { serviceType: "ClusterIP" },
      certs: { mode: "custom" },
    });
    const errors = unsupportedValues(v);
    expect(errors).toHaveLength(3);
    expect(errors.join("\n")).toMatch(/certs\.mode: "custom"/);
    expect(errors.join("\n")).toMatch(/apiServer\.serviceType: "ClusterIP"/);
    expect(errors.join("\n")).toMatch(/apiServer\.nodePort: 0 is not a NodePort/);
  });
});
