import { describe, expect, it } from "vitest";
import { parseDuration } from "./controllers";

describe("parseDuration (the controller-manager's duration flags)", () => {
  it("reads one number and one unit, as the flags are written", () => {
    expect(parseDuration("10s")).toBe(10_000);
    expect(parseDuration("500ms")).toBe(500);
    expect(parseDuration("1.5s")).toBe(1500);
    expect(parseDuration("2m")).toBe(120_000);
    expect(parseDuration("0s")).toBe(0);
    expect(parseDuration("0")).toBe(0);
  });
  it("refuses what is not a duration", () => {
    for (const bad of ["", "10", "s", "-1s", "10 seconds", "1h30m"]) expect(parseDuration(bad)).toBeUndefined();
  });
});
