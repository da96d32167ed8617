import * as pulumi from "@pulumi/pulumi";
import { describe, expect, it } from "vitest";
import { parsedBy } from "./scriptStep";

describe("parsedBy: what a step printed, read where Pulumi shows errors", () => {
  // ResourceError only keeps the resource it is tied to; a stand-in is enough to check which one.
  const step = { urn: "urn:pulumi:s::p::command:remote:Command::k3s-cp/k3s-credentials" } as unknown as pulumi.Resource;

  it("returns the parsed value", () => {
    expect(parsedBy(step, (s) => s.length, "abc")).toBe(3);
  });

  it("turns a parse failure into a ResourceError tied to the step, with no stack trace", () => {
    let caught: unknown;
    try {
      parsedBy(step, () => JSON.parse("{"), "{");
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(pulumi.ResourceError);
    expect((caught as pulumi.ResourceError).resource).toBe(step);
    expect((caught as pulumi.ResourceError).hideStack).toBe(true);
  });

  it("keeps a ResourceError as it is", () => {
    const own = new pulumi.ResourceError("already tied", step);
    expect(() =>
      parsedBy(
        step,
        () => {
          throw own;
        },
        "",
      ),
    ).toThrow(own);
  });
});
