/**
 * Karmada and vAccel in the real program (index.ts), offline: what `testbed plan --stack sim` lists, the order
 * `pulumi up` creates them in and `pulumi destroy` deletes them in (Pulumi deletes a resource only after everything
 * that depends on it), and the kubeconfig outputs as secrets.
 */
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import { readStackConfig } from "../components/spec";
import { SECRET_MASK, runProgram } from "../scripts/lib/programRunner";

const root = path.resolve(__dirname, "..");

interface Row {
  name: string;
  type: string;
  host: string;
  dependsOn: string[];
  secretInputs: string[];
}

let rows: Row[];
let byName: Map<string, Row>;
beforeAll(() => {
  const r = spawnSync("node", [path.join(root, "scripts/testbed.js"), "plan", "--stack", "sim", "--json"], {
    encoding: "utf8",
    cwd: root,
    timeout: 60_000,
  });
  expect(r.status, r.stderr).toBe(0);
  rows = JSON.parse(r.stdout) as Row[];
  byName = new Map(rows.map((x) => [x.name, x]));
});

/** Every resource `name` waits for, directly or through others. */
function upstream(name: string, seen = new Set<string>()): Set<string> {
  for (const d of byName.get(name)?.dependsOn ?? []) {
    if (seen.has(d)) continue;
    seen.add(d);
    upstream(d, seen);
  }
  return seen;
}
/** `later` is created after `earlier` and, by the same edge, deleted before it. */
const after = (later: string, earlier: string) => upstream(later).has(earlier);

const vaccel = [
  "vaccel-namespace",
  "vaccel-backend",
  "vaccel-agent-service",
  "vaccel-policy",
  "vaccel-agent",
  "vaccel-app",
];
const join = [
  "karmada-member-edge-namespace",
  "karmada-member-edge-impersonator-sa",
  "karmada-member-edge-impersonator-token",
  "karmada-member-edge-controller-sa",
  "karmada-member-edge-controller-token",
  "karmada-member-edge-role",
  "karmada-member-edge-role-binding",
  "karmada-member-edge-karmada-namespace",
  "karmada-member-edge-secret",
  "karmada-member-edge-impersonator-secret",
  "karmada-member-edge-cluster",
];

describe("testbed plan --stack sim: Karmada, the member join and the vAccel pipeline", () => {
  it("lists the Release, the etcd data step, the providers, the join and the pipeline", () => {
    const kinds = (names: string[]) => names.map((n) => `${n} ${byName.get(n)?.type}`);
    expect(kinds(["karmada-chart", "karmada-host/karmada-etcd-data", "karmada-host", "karmada-api"])).toEqual([
      "karmada-chart kubernetes:helm.sh/v3:Release",
      "karmada-host/karmada-etcd-data command:remote:Command",
      "karmada-host pulumi:providers:kubernetes",
      "karmada-api pulumi:providers:kubernetes",
    ]);
    for (const n of [...join, ...vaccel, "karmada-member-edge-api"]) expect(byName.has(n), n).toBe(true);
    expect(byName.get("karmada-member-edge-cluster")?.type).toBe("kubernetes:cluster.karmada.io/v1alpha1:Cluster");
    expect(byName.get("vaccel-policy")?.type).toBe("kubernetes:policy.karmada.io/v1alpha1:PropagationPolicy");
    // Nothing joins the mgmt cluster.
    expect(rows.filter((r) => r.name.startsWith("karmada-member-mgmt"))).toEqual([]);
  });

  it("marks the kubeconfigs and the copied tokens as secret inputs", () => {
    for (const p of ["karmada-host", "karmada-api", "karmada-member-edge-api"])
      expect(byName.get(p)?.secretInputs, p).toEqual(["kubeconfig"]);
    for (const s of ["karmada-member-edge-secret", "karmada-member-edge-impersonator-secret"])
      expect(byName.get(s)?.secretInputs, s).toEqual(["data"]);
  });

  it("creates in order: k3s, the data step, the Release, the join, the pipeline", () => {
    expect(after("karmada-chart", "karmada-host/k3s-nodes-ready")).toBe(true);
    expect(after("karmada-chart", "karmada-host/karmada-etcd-data")).toBe(true);
    expect(after("karmada-host/karmada-etcd-data", "karmada-host/k3s-server")).toBe(true);
    for (const n of ["karmada-member-edge-karmada-namespace", "karmada-member-edge-cluster"])
      expect(after(n, "karmada-chart"), n).toBe(true);
    for (const n of join.filter(
      (j) => !j.includes("karmada-namespace") && !j.endsWith("-secret") && !j.endsWith("-cluster"),
    ))
      expect(after(n, "k3s-cp/k3s-nodes-ready"), n).toBe(true);
    for (const n of join.filter((j) => j !== "karmada-member-edge-cluster"))
      expect(after("karmada-member-edge-cluster", n), n).toBe(true);
    for (const n of vaccel) expect(after(n, "karmada-member-edge-cluster"), n).toBe(true);
    // The templates are selected before they exist, so their wait for propagation can end.
    for (const n of ["vaccel-agent", "vaccel-app"]) expect(after(n, "vaccel-policy"), n).toBe(true);
  });

  it("deletes in reverse: the pipeline, the join, the Release, Karmada's etcd data, then k3s", () => {
    // Pulumi deletes a resource once everything depending on it is deleted: each pair below is such an edge.
    const order = [
      "vaccel-app",
      "karmada-member-edge-cluster",
      "karmada-chart",
      "karmada-host/karmada-etcd-data",
      "karmada-host/k3s-server",
    ];
    for (let i = 1; i < order.length; i++)
      expect(after(order[i - 1], order[i]), `${order[i - 1]} -> ${order[i]}`).toBe(true);
    for (const n of vaccel) expect(after(n, "karmada-chart"), n).toBe(true);
    // The member's credentials go after its Cluster, never before.
    for (const n of join.filter((j) => j !== "karmada-member-edge-cluster"))
      expect(after(n, "vaccel-app"), n).toBe(false);
  });
});

describe("the program's Karmada outputs", () => {
  it("exports karmadaKubeconfig and mlsysopsKubeconfig, both secret", async () => {
    const { outputs } = await runProgram({
      stack: "sim",
      config: readStackConfig(path.join(root, "stacks/Pulumi.sim.yaml")),
      projectDir: root,
      preview: true,
    });
    expect(outputs.karmadaKubeconfig).toBe(SECRET_MASK);
    expect(outputs.mlsysopsKubeconfig).toBe(SECRET_MASK);
    expect(pulumi.runtime.isDryRun()).toBe(true);
  });
});
