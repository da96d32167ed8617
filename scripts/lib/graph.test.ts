import { describe, expect, it } from "vitest";
import { criticalPath } from "./graph";

const step = (name: string, ...dependsOn: string[]) => ({ name, dependsOn });

describe("criticalPath", () => {
  it("follows the longest chain by duration, not by number of steps", () => {
    // a -> b -> c is 3 steps of 1 s; a -> d is 2 steps but d alone takes 5 s.
    const steps = [step("a"), step("b", "a"), step("c", "b"), step("d", "a")];
    const ms = new Map([
      ["a", 1000],
      ["b", 1000],
      ["c", 1000],
      ["d", 5000],
    ]);
    expect(criticalPath(steps, ms)).toEqual({ totalMs: 6000, chain: ["a", "d"] });
  });

  it("waits for the slowest of several dependencies", () => {
    const steps = [step("fast"), step("slow"), step("join", "fast", "slow")];
    const ms = new Map([
      ["fast", 100],
      ["slow", 900],
      ["join", 50],
    ]);
    expect(criticalPath(steps, ms)).toEqual({ totalMs: 950, chain: ["slow", "join"] });
  });

  it("gives the speedup bound of a diamond: serial sum over critical path", () => {
    const steps = [step("top"), step("left", "top"), step("right", "top"), step("bottom", "left", "right")];
    const ms = new Map([
      ["top", 1],
      ["left", 4],
      ["right", 4],
      ["bottom", 1],
    ]);
    const { totalMs } = criticalPath(steps, ms);
    expect(totalMs).toBe(6);
    expect(10 / totalMs).toBeCloseTo(1.667, 3);
  });

  it("counts a step without a measured duration as zero and handles an empty graph", () => {
    expect(criticalPath([step("a"), step("b", "a")], new Map([["b", 7]]))).toEqual({ totalMs: 7, chain: ["a", "b"] });
    expect(criticalPath([], new Map())).toEqual({ totalMs: 0, chain: [] });
  });

  it("refuses a cycle instead of recursing forever", () => {
    expect(() => criticalPath([step("a", "b"), step("b", "a")], new Map())).toThrow(/cycle/);
  });
});
