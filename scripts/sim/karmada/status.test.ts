import { describe, expect, it } from "vitest";
import {
  type MemberDeploymentStatus,
  aggregateDeploymentStatus,
  generateReadyCondition,
  reflectDeploymentStatus,
  setCondition,
  thresholdAdjusted,
} from "./status";

const member = (over: Partial<MemberDeploymentStatus>): MemberDeploymentStatus => ({
  generation: 2,
  resourceTemplateGeneration: 2,
  observedGeneration: 2,
  replicas: 1,
  updatedReplicas: 1,
  readyReplicas: 1,
  availableReplicas: 1,
  unavailableReplicas: 0,
  ...over,
});

describe("status aggregation (aggregatestatus.go:60-121)", () => {
  it("sums the members' counts and observes the template's generation once every member runs it", () => {
    const template = { metadata: { generation: 2 }, status: { observedGeneration: 1, replicas: 1 } };
    expect(aggregateDeploymentStatus(template, [{ clusterName: "edge", status: member({}) }])).toEqual({
      observedGeneration: 2,
      replicas: 1,
      readyReplicas: 1,
      updatedReplicas: 1,
      availableReplicas: 1,
    });
  });
  it("keeps the old observedGeneration while a member's object was made from an older template", () => {
    const template = { metadata: { generation: 3 }, status: { observedGeneration: 2 } };
    const status = aggregateDeploymentStatus(template, [
      { clusterName: "edge", status: member({ resourceTemplateGeneration: 2, updatedReplicas: 0 }) },
    ]);
    expect(status?.observedGeneration).toBe(2);
    // A member without a status counts as not observed (line 99 compares with every item).
    expect(aggregateDeploymentStatus(template, [{ clusterName: "edge" }])).toBeUndefined();
  });
  it("with no member left (its Works deleted), observes the template's generation with nothing running", () => {
    const template = {
      metadata: { generation: 3 },
      status: { observedGeneration: 2, replicas: 1, availableReplicas: 1 },
    };
    expect(aggregateDeploymentStatus(template, [])).toEqual({ observedGeneration: 3 });
  });
  it("writes nothing when nothing changed", () => {
    const template = {
      metadata: { generation: 2 },
      status: { observedGeneration: 2, replicas: 1, readyReplicas: 1, updatedReplicas: 1, availableReplicas: 1 },
    };
    expect(aggregateDeploymentStatus(template, [{ clusterName: "edge", status: member({}) }])).toBeUndefined();
  });
});

describe("reflectDeploymentStatus (reflectstatus.go:54-104)", () => {
  it("grabs the counts, the member generation and the template generation it was made from", () => {
    const member = {
      metadata: { generation: 4, annotations: { "resourcetemplate.karmada.io/generation": "7" } },
      status: { observedGeneration: 4, replicas: 1, updatedReplicas: 1, readyReplicas: 1, availableReplicas: 1 },
    };
    expect(reflectDeploymentStatus(member)).toEqual({
      generation: 4,
      resourceTemplateGeneration: 7,
      observedGeneration: 4,
      replicas: 1,
      updatedReplicas: 1,
      readyReplicas: 1,
      availableReplicas: 1,
      unavailableReplicas: 0,
    });
  });
  it("a member without a status, or without the generation annotation, is not collected", () => {
    expect(reflectDeploymentStatus({ metadata: { generation: 1 } })).toBeUndefined();
    expect(reflectDeploymentStatus({ metadata: { generation: 1 }, status: { replicas: 1 } })).toBeUndefined();
  });
});

describe("the Ready condition (cluster_status_controller.go:462-472, cluster_condition_cache.go:44-82)", () => {
  it("names Karmada's reasons", () => {
    expect(generateReadyCondition(false, false)).toEqual({
      type: "Ready",
      status: "False",
      reason: "ClusterNotReachable",
      message: "cluster is not reachable",
    });
    expect(generateReadyCondition(true, false).reason).toBe("ClusterNotReady");
    expect(generateReadyCondition(true, true)).toMatchObject({ status: "True", reason: "ClusterReady" });
  });
  it("keeps lastTransitionTime while the status stays, changes it when the status changes", () => {
    const t0 = new Date("2026-01-01T00:00:00Z");
    const t1 = new Date("2026-01-01T00:01:00Z");
    const a = setCondition(undefined, generateReadyCondition(true, true), t0);
    expect(a[0].lastTransitionTime).toBe("2026-01-01T00:00:00Z");
    expect(setCondition(a, generateReadyCondition(true, true), t1)[0].lastTransitionTime).toBe("2026-01-01T00:00:00Z");
    const b = setCondition(a, generateReadyCondition(false, false), t1);
    expect(b[0]).toMatchObject({
      status: "False",
      reason: "ClusterNotReachable",
      lastTransitionTime: "2026-01-01T00:01:00Z",
    });
  });
  it("reports a new cluster at once, and a flip only once it has lasted the threshold", () => {
    const down = generateReadyCondition(false, false);
    const up = generateReadyCondition(true, true);
    const first = thresholdAdjusted(undefined, undefined, down, 0, 30_000, 30_000);
    expect(first.condition).toBe(down);
    const current = { ...up, lastTransitionTime: "2026-01-01T00:00:00Z" };
    const saved = { readyCondition: "True", thresholdStartTime: 0 };
    const early = thresholdAdjusted(saved, current, down, 1000, 30_000, 30_000);
    expect(early.condition).toBe(current);
    expect(early.state).toEqual({ readyCondition: "False", thresholdStartTime: 1000 });
    expect(thresholdAdjusted(early.state, current, down, 30_999, 30_000, 30_000).condition).toBe(current);
    expect(thresholdAdjusted(early.state, current, down, 31_000, 30_000, 30_000).condition).toBe(down);
    // With a zero threshold the flip is reported at once.
    expect(thresholdAdjusted(saved, current, down, 1000, 0, 0).condition).toBe(down);
  });
});
