import { describe, expect, it } from "vitest";
import { karmadaSpecIssues } from "./validate";
import { karmadaSchema } from "../spec/schema";

const clusters = {
  mgmt: { server: "karmada-host", agents: [] },
  edge: { server: "k3s-cp", agents: ["pi", "jetson"] },
};
const karmada = (over: Record<string, unknown>) => karmadaSchema.parse({ cluster: "mgmt", members: ["edge"], ...over });

describe("karmadaSpecIssues", () => {
  it("accepts the demo's layout with the schema's defaults", () => {
    expect(karmadaSpecIssues({ clusters, karmada: karmada({}) })).toEqual([]);
    expect(karmadaSpecIssues({ clusters })).toEqual([]);
  });

  it("names a member that is not a cluster of the spec, listing the clusters", () => {
    expect(karmadaSpecIssues({ clusters, karmada: karmada({ members: ["edge", "egde"] }) })).toEqual([
      { path: "karmada.members.1", message: '"egde" is not a cluster of this spec (known: "mgmt", "edge")' },
    ]);
  });

  it("refuses the management cluster as a member, a duplicate member and an unknown host cluster", () => {
    expect(karmadaSpecIssues({ clusters, karmada: karmada({ cluster: "cloud", members: ["mgmt", "mgmt"] }) })).toEqual([
      { path: "karmada.cluster", message: '"cloud" is not a cluster of this spec (known: "mgmt", "edge")' },
      { path: "karmada.members.1", message: '"mgmt" is listed twice' },
    ]);
    expect(karmadaSpecIssues({ clusters, karmada: karmada({ members: ["mgmt"] }) })).toEqual([
      {
        path: "karmada.members.0",
        message: '"mgmt" hosts Karmada (karmada.cluster); the management cluster is never a member',
      },
    ]);
  });

  it("refuses a Karmada cluster with agents: its etcd could land on a disk the gate never measured", () => {
    expect(karmadaSpecIssues({ clusters, karmada: karmada({ cluster: "edge", members: [] }) })).toEqual([
      {
        path: "karmada.cluster",
        message:
          '"edge" has agents ("pi", "jetson"): Karmada\'s cluster must be its server alone, the disk the gate ' +
          "measures for Karmada's etcd (karmada.etcdPath); put the agents in a member cluster",
      },
    ]);
  });

  it("refuses a chart version whose values were never checked, and an etcd path the chart would not use", () => {
    const issues = karmadaSpecIssues({ clusters, karmada: karmada({ chartVersion: "1.14.0", etcdPath: "/srv/etcd" }) });
    expect(issues).toEqual([
      {
        path: "karmada.chartVersion",
        message:
          '"1.14.0" is not a chart version this program\'s values were checked against (1.13.0); Helm would drop ' +
          "any value the chart renamed without a word",
      },
      {
        path: "karmada.etcdPath",
        message:
          '"/srv/etcd" is not where the Karmada chart keeps etcd: chart 1.13.0 puts it at ' +
          '/var/lib/<namespace>/karmada-etcd, here "/var/lib/karmada-system/karmada-etcd"; set etcdPath to ' +
          '"/var/lib/karmada-system/karmada-etcd" so the disk gate measures it',
      },
    ]);
  });
});
