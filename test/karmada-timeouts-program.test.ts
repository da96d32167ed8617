/**
 * testbed:karmada.timeouts and testbed:vaccel.readySeconds in the real program (index.ts), offline under Pulumi's
 * mock runtime: each override reaches the resource whose wait it bounds, through components/testbed.ts.
 */
import * as path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { readStackConfig } from "../components/spec";
import { type RecordedResource, runProgram } from "../scripts/lib/programRunner";

const root = path.resolve(__dirname, "..");

let byName: Map<string, RecordedResource>;
beforeAll(async () => {
  const config = readStackConfig(path.join(root, "stacks/Pulumi.sim.yaml"));
  const karmada = config.karmada as Record<string, unknown>;
  karmada.timeouts = {
    releaseSeconds: 1201,
    memberServiceAccountSeconds: 91,
    memberReadySeconds: 601,
    etcdReleaseSeconds: 121,
  };
  (config.vaccel as Record<string, unknown>).readySeconds = 1801;
  const { resources } = await runProgram({ stack: "sim", config, projectDir: root, preview: true });
  byName = new Map(resources.map((r) => [r.name, r]));
});

const annotations = (name: string) => {
  const r = byName.get(name);
  expect(r, name).toBeDefined();
  return (r!.inputs.metadata as { annotations: Record<string, string> }).annotations;
};

describe("the waits' bounds from the spec reach their resources", () => {
  it("karmada.timeouts.releaseSeconds: the Release's timeout", () => {
    expect(byName.get("karmada-chart")?.inputs.timeout).toBe(1201);
  });

  it("karmada.timeouts.memberServiceAccountSeconds and memberReadySeconds: each member's waits", () => {
    for (const n of ["karmada-member-edge-controller-token", "karmada-member-edge-impersonator-token"])
      expect(annotations(n)["pulumi.com/timeoutSeconds"], n).toBe("91");
    expect(annotations("karmada-member-edge-cluster")).toEqual({
      "pulumi.com/waitFor": "condition=Ready",
      "pulumi.com/timeoutSeconds": "601",
    });
  });

  it("karmada.timeouts.etcdReleaseSeconds: the etcd data step's header", () => {
    const stdin = byName.get("karmada-host/karmada-etcd-data")?.inputs.stdin;
    expect(typeof stdin).toBe("string");
    expect((stdin as string).split("\n")).toContain("readonly release_gone_wait_s=121");
  });

  it("vaccel.readySeconds: both Deployments' waits", () => {
    for (const n of ["vaccel-agent", "vaccel-app"]) expect(annotations(n)["pulumi.com/timeoutSeconds"], n).toBe("1801");
  });
});
