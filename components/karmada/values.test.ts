import { describe, expect, it } from "vitest";
import { CHART_CERT_HOSTS, chartEtcdPath, etcdPathError, karmadaHelmValues } from "./values";
import { chartValues, undeclaredValues } from "../../test/harness/karmadaSchemas";
import { DEFAULT_KARMADA_ETCD_PATH } from "../spec/schema";

const args = { hostAddress: "198.18.0.20", apiNodePort: 32644 };

describe("karmadaHelmValues", () => {
  it("sets only keys chart 1.13.0 declares", () => {
    expect(undeclaredValues(karmadaHelmValues({ ...args, etcdNode: "karmada-host" }), chartValues())).toEqual([]);
  });

  it("would catch the original testbed's search.enableResourceRegistry, which the chart does not declare", () => {
    expect(undeclaredValues({ search: { enableResourceRegistry: true } }, chartValues())).toEqual([
      "search.enableResourceRegistry",
    ]);
    expect(undeclaredValues({ apiServer: { nodeport: 1 } }, chartValues())).toEqual(["apiServer.nodeport"]);
    expect(undeclaredValues({ certs: "auto" }, chartValues())).toEqual(["certs (the chart declares a map here)"]);
  });

  it("sets the original testbed's values: certs auto for 43800h, search, API on the NodePort, etcd on hostPath", () => {
    const v = karmadaHelmValues(args);
    expect(v).toEqual({
      installMode: "host",
      certs: { mode: "auto", auto: { expiry: "43800h", hosts: [...CHART_CERT_HOSTS, "198.18.0.20"] } },
      components: ["search"],
      apiServer: { serviceType: "NodePort", nodePort: 32644 },
      etcd: { mode: "internal", internal: { storageType: "hostPath" } },
    });
  });

  it("keeps the chart's default certificate hosts, which setting the list would otherwise drop", () => {
    const chart = chartValues() as { certs: { auto: { hosts: string[] } } };
    expect([...CHART_CERT_HOSTS]).toEqual(chart.certs.auto.hosts);
  });

  it("does not list the host twice when it is one of the defaults", () => {
    const hosts = (karmadaHelmValues({ ...args, hostAddress: "127.0.0.1" }) as any).certs.auto.hosts;
    expect(hosts).toEqual([...CHART_CERT_HOSTS]);
  });

  it("pins etcd to the node whose disk the gate measured when given", () => {
    const v = karmadaHelmValues({ ...args, etcdNode: "karmada-host" }) as any;
    expect(v.etcd.internal.nodeSelector).toEqual({ "kubernetes.io/hostname": "karmada-host" });
  });

  it("refuses a port outside the NodePort range and an empty host", () => {
    expect(() => karmadaHelmValues({ ...args, apiNodePort: 5443 })).toThrow(/5443 is not a NodePort/);
    expect(() => karmadaHelmValues({ ...args, hostAddress: " " })).toThrow(/host address is empty/);
  });
});

describe("etcd path", () => {
  it("is where chart 1.13.0 puts it, and the spec's default agrees", () => {
    expect(chartEtcdPath("karmada-system")).toBe("/var/lib/karmada-system/karmada-etcd");
    expect(etcdPathError(DEFAULT_KARMADA_ETCD_PATH)).toBeUndefined();
    expect(etcdPathError("/var/lib/karmada-system/karmada-etcd/")).toBeUndefined();
  });

  it("refuses a path the chart would not use, naming the one it would", () => {
    expect(etcdPathError("/data/etcd")).toBe(
      'karmada.etcdPath: "/data/etcd" is not where the Karmada chart keeps etcd: chart 1.13.0 puts it at ' +
        '/var/lib/<namespace>/karmada-etcd, here "/var/lib/karmada-system/karmada-etcd"; set etcdPath to ' +
        '"/var/lib/karmada-system/karmada-etcd" so the disk gate measures it',
    );
  });
});
