import { describe, expect, it } from "vitest";
import { clusterCrd } from "./karmadaDouble";

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
