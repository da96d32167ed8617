import { describe, expect, it } from "vitest";
import { type GraphNode, StepError, deleteLayers, outcome, progressLines } from "./engine";

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

describe("the sim engine schedules a destroy as pulumi destroy does", () => {
  const node = (urn: string, custom: boolean, parent?: string, dependsOn: string[] = []): GraphNode => ({
    urn,
    custom,
    parent,
    dependsOn,
  });

  it("deletes layer by layer: a step waits for every deeper layer, not only for the steps that depend on it", () => {
    // The shape of the sim stack: a Pi step hangs off its host only, the nuc's measurement chain is deeper. Real
    // `pulumi destroy` (v3.248.0) deleted the Pi's memory-cgroup after the nuc's fsync-after, in one layer with
    // the nuc's zfs-tuning; the mock engine used to delete it as soon as the Pi's agent was gone.
    const nodes = [
      node("testbed", false),
      node("nuc", false, "testbed"),
      node("nuc/reachable", true, "nuc"),
      node("nuc/zfs-tuning", true, "nuc-zfs", ["nuc/reachable"]),
      node("nuc/fsync-after", true, "nuc-fsync", ["nuc/reachable", "nuc/zfs-tuning"]),
      node("pi", false, "testbed"),
      node("pi/reachable", true, "pi"),
      node("pi/memory-cgroup", true, "edge", ["pi/reachable"]),
      node("pi/k3s-agent", true, "edge", ["pi/reachable", "pi/memory-cgroup", "nuc/fsync-after"]),
    ];
    // The components nuc-zfs, nuc-fsync and edge are not in the list (as the stack is not): layer 0 for them.
    expect(deleteLayers(nodes)).toEqual([0, 1, 2, 3, 4, 1, 2, 3, 5]);
  });

  it("counts a component dependency's children registered before the dependent, as Pulumi's graph does", () => {
    const nodes = [
      node("testbed", false),
      node("vm", false, "testbed"),
      node("vm/launch", true, "vm"),
      node("vm/check", true, "vm", ["vm/launch"]),
      // Depends on the component: its children before it count, so it lands above vm/check.
      node("server", true, "testbed", ["vm"]),
      node("vm/late", true, "vm", ["vm/check", "vm/check"]),
    ];
    expect(deleteLayers(nodes)).toEqual([0, 1, 2, 3, 4, 4]);
  });
});
