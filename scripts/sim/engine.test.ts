import { describe, expect, it } from "vitest";
import { StepError, outcome, progressLines, simProgramConfig } from "./engine";

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

describe("the sim engine shows a measurement's progress, as pulumi-command streams a step's stderr", () => {
  it("passes on whole progress lines only, across chunks, and nothing else the step prints", () => {
    const a = progressLines("", "[INFO] installing\nfdatasync latency: 120 of 10029 syncs, 1 s, p9");
    expect(a.lines).toEqual([]);
    const b = progressLines(
      a.partial,
      "9 so far 0.42 ms\nfdatasync latency: 300 of 10029 syncs, 2 s, p99 so far 0.40 ms\n",
    );
    expect(b).toEqual({
      lines: [
        "fdatasync latency: 120 of 10029 syncs, 1 s, p99 so far 0.42 ms",
        "fdatasync latency: 300 of 10029 syncs, 2 s, p99 so far 0.40 ms",
      ],
      partial: "",
    });
  });
});

describe("the sim stack as the engine runs it", () => {
  it("leaves out Karmada and vAccel, which need a Kubernetes API the sim's hosts do not serve, and nothing else", () => {
    const config = { hosts: { a: 1 }, clusters: { c: 1 }, karmada: { cluster: "c" }, vaccel: { gpuNode: "j" } };
    expect(simProgramConfig(config)).toEqual({ hosts: { a: 1 }, clusters: { c: 1 } });
    expect(config.karmada).toEqual({ cluster: "c" });
  });
});
