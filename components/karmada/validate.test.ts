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
      { path: "karmada.members[1]", message: '"egde" is not a cluster of the spec (clusters: mgmt, edge)' },
    ]);
  });

  it("refuses the management cluster as a member, a duplicate member and an unknown host cluster", () => {
    expect(karmadaSpecIssues({ clusters, karmada: karmada({ cluster: "cloud", members: ["mgmt", "mgmt"] }) })).toEqual([
      { path: "karmada.cluster", message: '"cloud" is not a cluster of the spec (clusters: mgmt, edge)' },
      { path: "karmada.members[1]", message: '"mgmt" is listed twice' },
    ]);
    expect(karmadaSpecIssues({ clusters, karmada: karmada({ members: ["mgmt"] }) })).toEqual([
      {
        path: "karmada.members[0]",
        message: '"mgmt" hosts Karmada (karmada.cluster); the management cluster is never a member',
      },
    ]);
  });

  it("refuses a chart version whose values were never checked, and an etcd path the chart would not use", () => {
    const issues = karmadaSpecIssues({ clusters, karmada: karmada({ chartVersion: "1.14.0", etcdPath: "/srv/etcd" }) });
    expect(issues.map((i) => i.path)).toEqual(["karmada.chartVersion", "karmada.etcdPath"]);
    expect(issues[1].message).toMatch(/^"\/srv\/etcd" is not where the Karmada chart keeps etcd/);
  });
});
