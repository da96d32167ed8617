import { describe, expect, it } from "vitest";
import { type MemberDeploymentStatus, aggregateDeploymentStatus, clusterCrd } from "./karmadaDouble";

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

describe("the Karmada double's status aggregation (aggregatestatus.go:60-121)", () => {
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
  it("writes nothing when nothing changed", () => {
    const template = {
      metadata: { generation: 2 },
      status: { observedGeneration: 2, replicas: 1, readyReplicas: 1, updatedReplicas: 1, availableReplicas: 1 },
    };
    expect(aggregateDeploymentStatus(template, [{ clusterName: "edge", status: member({}) }])).toBeUndefined();
  });
});

describe("clusterCrd", () => {
  it("serves Cluster cluster-scoped with a status subresource, from a schema with every $ref inlined", () => {
    const crd = clusterCrd() as { spec: { scope: string; versions: { schema: unknown; subresources: unknown }[] } };
    expect(crd.spec.scope).toBe("Cluster");
    expect(crd.spec.versions[0].subresources).toEqual({ status: {} });
    const text = JSON.stringify(crd.spec.versions[0].schema);
    expect(text).not.toContain("$ref");
    expect(text).toContain('"syncMode":{"type":"string"}');
  });
});
