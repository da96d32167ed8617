import { describe, expect, it } from "vitest";
import { StepError, outcome } from "./engine";

describe("the sim engine reads a step's result as the program does", () => {
  it("takes the last result line and keeps its detail", () => {
    const out = "noise\nTESTBED unchanged k3s already installed\nTESTBED output {}\n";
    expect(outcome(out, "k3s-cp/k3s-server", "k3s-cp")).toEqual({
      changed: false,
      detail: "k3s already installed",
      output: {},
      line: "TESTBED unchanged k3s already installed",
    });
  });

  it("fails a step that printed no result line, naming the step and host", () => {
    const run = () => outcome("installed, probably\n", "pi/k3s-agent", "pi");
    expect(run).toThrow(StepError);
    expect(run).toThrow(/step pi\/k3s-agent on host pi: the step printed no "TESTBED changed\|unchanged" line/);
  });
});
