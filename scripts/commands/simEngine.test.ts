import { describe, expect, it } from "vitest";
import { type EngineChoice, chooseEngine } from "./sim";

const available = () => ({ cli: {} });
const missing = () => ({ missing: "no Pulumi CLI >= 3.248.0 on PATH or in ~/.cache/testbed/pulumi-v3.248.0" });
const base: EngineChoice = { asked: "auto", mockState: false, realState: false, real: available, mockOnly: false };

describe("which engine sim up runs", () => {
  it("auto: the real engine where it is available, on fresh hosts", () => {
    expect(chooseEngine(base)).toEqual({
      engine: "pulumi",
      why: "the real Pulumi engine (--engine mock for the other)",
    });
  });

  it("auto: the mock engine for a stack with Karmada or vAccel, which the real one cannot provision here", () => {
    const kubernetes = ["testbed:karmada", "testbed:vaccel"];
    expect(chooseEngine({ ...base, kubernetes })).toEqual({
      engine: "mock",
      why:
        "the mock-runtime engine: the stack has testbed:karmada and testbed:vaccel, which the real one cannot " +
        "provision here (no pulumi-resource-kubernetes); --engine pulumi runs the stack without them",
    });
    // Asked for, or owning the hosts' state, the real engine still runs (without them).
    expect(chooseEngine({ ...base, kubernetes, asked: "pulumi" })).toMatchObject({ engine: "pulumi" });
    expect(chooseEngine({ ...base, kubernetes, realState: true })).toMatchObject({ engine: "pulumi" });
    expect(chooseEngine({ ...base, kubernetes: [] })).toMatchObject({ engine: "pulumi" });
  });

  it("auto: the mock engine where the real one is not available, saying why", () => {
    expect(chooseEngine({ ...base, real: missing })).toEqual({
      engine: "mock",
      why: "the mock-runtime engine: the real one is not available here: no Pulumi CLI >= 3.248.0 on PATH or in ~/.cache/testbed/pulumi-v3.248.0",
    });
  });

  it("auto: the engine that provisioned the hosts, whichever is available (the other cannot take them over)", () => {
    expect(chooseEngine({ ...base, mockState: true })).toMatchObject({ engine: "mock" });
    expect(chooseEngine({ ...base, realState: true, real: missing })).toMatchObject({ engine: "pulumi" });
  });

  it("auto: --serial and --rerun are the mock engine's; refused on hosts the real one provisioned", () => {
    expect(chooseEngine({ ...base, mockOnly: true })).toMatchObject({ engine: "mock" });
    expect(chooseEngine({ ...base, realState: true, mockOnly: true })).toHaveProperty("error");
  });

  it("an engine asked for is used, unless the other one provisioned the hosts", () => {
    expect(chooseEngine({ ...base, asked: "mock" })).toMatchObject({ engine: "mock" });
    expect(chooseEngine({ ...base, asked: "pulumi", mockState: true })).toEqual({
      error: "the sim hosts were provisioned by the mock-runtime engine: sim down first",
    });
    expect(chooseEngine({ ...base, asked: "mock", realState: true })).toEqual({
      error: "the sim hosts were provisioned by the real Pulumi engine: sim down first",
    });
    expect(chooseEngine({ ...base, asked: "pulumi", mockOnly: true })).toHaveProperty("error");
  });
});
