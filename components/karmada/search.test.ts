import { describe, expect, it } from "vitest";
import { resourceRegistry } from "./search";
import { karmadaSchemaErrors } from "../../test/harness/karmadaSchemas";

describe("resourceRegistry", () => {
  it("is valid against Karmada v1.13.0's search API", () => {
    expect(karmadaSchemaErrors(resourceRegistry(["edge", "cloud"]))).toEqual([]);
  });

  it("caches the members' pods, which the MLSysOps CLI lists through the search proxy", () => {
    expect(resourceRegistry(["edge"]).spec).toEqual({
      targetCluster: { clusterNames: ["edge"] },
      resourceSelectors: [{ apiVersion: "v1", kind: "Pod" }],
    });
  });

  it("needs a member", () => {
    expect(() => resourceRegistry([])).toThrow(/at least one member/);
  });

  it("would be refused without its required selectors", () => {
    const r = resourceRegistry(["edge"]) as any;
    delete r.spec.resourceSelectors;
    expect(karmadaSchemaErrors(r).join()).toMatch(/resourceSelectors/);
  });
});
