import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { karmadaSpecIssues } from "./validate";
import { karmadaSchema } from "../spec/schema";
import { karmadaHelmValues } from "./values";

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

  it("allows a Karmada cluster with agents: its etcd is pinned to the server, whose disk the gate measures", () => {
    expect(karmadaSpecIssues({ clusters, karmada: karmada({ cluster: "edge", members: [] }) })).toEqual([]);
    // The pin is real: chart 1.13.0 renders etcd.internal.nodeSelector into the etcd StatefulSet's pod spec
    // (templates/etcd.yaml lines 38-41), next to the hostPath volume that holds the data (lines 109-112), in the
    // document the chart renders for the mode and installMode the program sets (line 10).
    const template = fs.readFileSync(path.join(__dirname, "fixtures/etcd.yaml"), "utf8").split("\n");
    const lines = (from: number, to: number) => template.slice(from - 1, to).join("\n");
    expect(lines(10, 12)).toBe(
      '{{- if and (eq .Values.etcd.mode "internal") (eq .Values.installMode "host") }}\napiVersion: apps/v1\nkind: StatefulSet',
    );
    expect(lines(31, 31)).toBe("    spec:");
    expect(lines(38, 41)).toBe(
      "      {{- with .Values.etcd.internal.nodeSelector }}\n      nodeSelector:\n      {{- toYaml . | nindent 8 }}\n      {{- end }}",
    );
    expect(lines(105, 112)).toMatch(
      /^ {6}volumes:\n[\s\S]* {8}- hostPath:\n {12}path: \/var\/lib\/\{\{ include "karmada.namespace" \. \}\}\/karmada-etcd\n/,
    );
    // ... and the program sets exactly that key, with the server's node name, in that mode.
    const values = karmadaHelmValues({ hostAddress: "198.18.0.20", apiNodePort: 32644, etcdNode: "karmada-host" });
    expect(values).toMatchObject({
      installMode: "host",
      etcd: { mode: "internal", internal: { nodeSelector: { "kubernetes.io/hostname": "karmada-host" } } },
    });
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
