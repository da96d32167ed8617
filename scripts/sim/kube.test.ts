import { describe, expect, it } from "vitest";
import { deploymentReady, meets, parseJsonPath, parseWaitFor, readiness } from "./kube";

describe("pulumi.com/waitFor as pulumi-kubernetes reads it", () => {
  it("parses jsonpath and condition expressions, one or a JSON array", () => {
    expect(parseWaitFor("jsonpath={.data.token}")).toEqual([
      { kind: "jsonpath", expr: "jsonpath={.data.token}", path: ["data", "token"], value: undefined },
    ]);
    expect(parseWaitFor("jsonpath={.status.availableReplicas}=1")[0]).toMatchObject({
      path: ["status", "availableReplicas"],
      value: "1",
    });
    expect(parseWaitFor('["condition=Ready", "condition=Synced=False"]')).toEqual([
      { kind: "condition", expr: "condition=Ready", type: "Ready", status: "True" },
      { kind: "condition", expr: "condition=Synced=False", type: "Synced", status: "False" },
    ]);
    expect(parseJsonPath("{.metadata.annotations['a.b/c'][0]}")).toEqual(["metadata", "annotations", "a.b/c", 0]);
  });

  it("refuses what the provider refuses, and what this engine cannot read", () => {
    expect(() => parseWaitFor("ready")).toThrow(/expected a "jsonpath=" or "condition=" prefix/);
    expect(() => parseWaitFor("jsonpath={.a}=")).toThrow(/requires a value/);
    expect(() => parseWaitFor("jsonpath=.a")).toThrow(/wrapped in brackets/);
    expect(() => parseWaitFor("jsonpath={.items[?(@.x)]}")).toThrow(/unsupported JSONPath/);
  });

  it("holds a jsonpath wait until the status is of the current generation", () => {
    const [c] = parseWaitFor("jsonpath={.status.availableReplicas}=1");
    const d = (generation: number, observed: number, available: number) => ({
      metadata: { generation },
      status: { observedGeneration: observed, availableReplicas: available },
    });
    expect(meets(d(2, 1, 1), c).ok).toBe(false);
    expect(meets(d(2, 2, 0), c)).toEqual({ ok: false, found: '"0"' });
    expect(meets(d(2, 2, 1), c).ok).toBe(true);
    expect(meets({ metadata: {} }, parseWaitFor("jsonpath={.data.token}")[0])).toEqual({ ok: false, found: "nothing" });
  });

  it("matches a condition's type and status case-insensitively, as kubectl wait does", () => {
    const [c] = parseWaitFor("condition=Ready");
    expect(meets({ status: { conditions: [{ type: "ready", status: "true" }] } }, c).ok).toBe(true);
    expect(meets({ status: { conditions: [{ type: "Ready", status: "False" }] } }, c)).toEqual({
      ok: false,
      found: "Ready=False",
    });
    expect(meets({ status: {} }, c).found).toBe("no Ready condition");
  });
});

describe("the await after a create or update", () => {
  it("skips, replaces or uses the built-in await as the annotations say", () => {
    const d = { apiVersion: "apps/v1", kind: "Deployment", metadata: { annotations: {} as Record<string, string> } };
    expect(readiness(d)).toBe(deploymentReady);
    expect(readiness({ ...d, metadata: { annotations: { "pulumi.com/skipAwait": "true" } } })).toBeUndefined();
    const custom = readiness({ ...d, metadata: { annotations: { "pulumi.com/waitFor": "condition=Ready" } } });
    expect(custom).toBeDefined();
    expect(custom!({ status: { conditions: [] } })).toEqual({
      ok: false,
      found: "condition=Ready (found no Ready condition)",
    });
    expect(readiness({ apiVersion: "v1", kind: "ConfigMap" })).toBeUndefined();
    expect(readiness({ apiVersion: "v1", kind: "Service", spec: { type: "ClusterIP" } })).toBeUndefined();
  });

  it("takes a Deployment as ready once Available and rolled out at its generation", () => {
    const status = (reason: string, observed = 3) => ({
      metadata: { generation: 3 },
      status: {
        observedGeneration: observed,
        conditions: [
          { type: "Available", status: "True" },
          { type: "Progressing", status: "True", reason },
        ],
      },
    });
    expect(deploymentReady(status("NewReplicaSetAvailable")).ok).toBe(true);
    expect(deploymentReady(status("ReplicaSetUpdated")).ok).toBe(false);
    expect(deploymentReady(status("NewReplicaSetAvailable", 2)).ok).toBe(false);
  });
});
