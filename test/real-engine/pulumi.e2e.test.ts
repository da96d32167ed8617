import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { simAvailable, simStackWith } from "../sim/helpers";
import {
  cutConnections,
  loadState,
  overlayFiles,
  pinCurrentHostKey,
  restartHost,
  simDown,
  simUp,
} from "../../scripts/sim/hosts";
import * as mock from "../../scripts/sim/engine";
import {
  type EngineEvent,
  KUBERNETES_SETTINGS,
  PULUMI_DIR,
  PulumiRunError,
  type StepSpan,
  destroy,
  findPulumi,
  forgetSimStack,
  preview,
  simStackHasResources,
  stackOutputs,
  stateGraph,
  stepSpans,
  up,
} from "../../scripts/sim/pulumiEngine";
import { openSession } from "../../components/remote/session";
import { connectionOf, loadStackSpec } from "../../scripts/lib/hosts";

/**
 * The real Pulumi engine (CLI, Node.js language host, pulumi-resource-command with its own Go SSH client) on the
 * simulated testbed, and the mock-runtime engine (scripts/sim/engine.ts) held to what it does. Needs root and the
 * sim's Debian packages, as the sim e2e does, and a Pulumi CLI: the official one on PATH or the one
 * scripts/setup-pulumi.sh builds. Without them these tests are skipped, by name.
 *
 * Both engines run the same scenarios on the same hosts, the real one first: each of its runs records what the
 * engine did with every step (from its event log), and the mock-runtime engine, run afterwards from clean hosts,
 * must do the same. The stack is the sim stack without Karmada and vAccel, which the real engine cannot provision
 * here (KUBERNETES_SETTINGS).
 */
const found = findPulumi();
const cli = "cli" in found ? found.cli : undefined;
const skipped = !simAvailable()
  ? "needs root and the sim's Debian packages"
  : cli === undefined
    ? `needs a Pulumi CLI: ${"missing" in found ? found.missing : ""}`
    : undefined;
if (skipped) console.warn(`real-engine e2e skipped: ${skipped}`);

const REPO = path.resolve(__dirname, "../..");
const testbedCli = (...args: string[]) =>
  spawnSync("node", [path.join(REPO, "scripts/testbed.js"), ...args], { encoding: "utf8", timeout: 240_000 });

type Config = Record<string, any>;
/**
 * The stacks of the scenarios, each one change on the one before. The base is the sim stack without the
 * Kubernetes settings, and with a warning limit of the disk gates (90 ms, below the 100 ms failure) that this busy
 * machine's fsyncs stay under: a measurement run again keeps its verdict, so its k3s server has no reason to run
 * again in one engine and not in the other.
 */
const base = (c: Config) => {
  for (const key of KUBERNETES_SETTINGS) delete c[key];
  c["testbed:diskGate"] = { ...c["testbed:diskGate"], warnMs: 90 };
};
/** A ZFS property and an agent's labels: the tuning step and the Pi's agent, and nothing else, must run again. */
const settingChanged = (c: Config) => {
  base(c);
  c["testbed:zfs"].properties.recordsize = "16k";
  c["testbed:hosts"].pi.labels = { "mlsysops.eu/continuumLayer": "far-edge" };
};
/**
 * A larger measurement: the four measurements run again, each for seconds (the sim's pool makes 400-500 syncs a
 * second: 4 MiB is about 1800), long enough to be cut in the middle.
 */
const measuredLonger = (c: Config) => {
  settingChanged(c);
  c["testbed:diskGate"].sizeMiB = 4;
};
/** The Jetson's labels: its agent must run, on a host whose key changed. */
const jetsonRelabelled = (c: Config) => {
  measuredLonger(c);
  c["testbed:hosts"].jetson.labels = { "mlsysops.eu/continuumLayer": "far-edge" };
};
const STACKS = {
  base: simStackWith(base),
  settingChanged: simStackWith(settingChanged),
  measuredLonger: simStackWith(measuredLonger),
  jetsonRelabelled: simStackWith(jetsonRelabelled),
};

/** The steps the mock runtime plans for the base stack: what `pulumi preview` must list. */
const planned = (): string[] =>
  (JSON.parse(testbedCli("plan", "--file", STACKS.base, "--json").stdout) as { name: string }[])
    .map((p) => p.name)
    .sort();

/** Values that must never be printed: the SSH private key's lines, the pi's sudo password, the passphrase. */
function secrets(): string[] {
  const key = fs
    .readFileSync(path.join(REPO, ".sim/keys/id_ed25519"), "utf8")
    .split("\n")
    .filter((l) => l.length > 20 && !l.startsWith("-----"));
  const sudo = fs.readFileSync(path.join(REPO, ".sim/keys/pi-sudo-password"), "utf8").trim();
  const passphrase = fs.readFileSync(path.join(PULUMI_DIR, "passphrase"), "utf8").trim();
  expect(key.length).toBeGreaterThan(0);
  expect(sudo.length).toBeGreaterThan(0);
  return [...key, sudo, passphrase];
}

const machines = ["nuc", "pi", "jetson"];
const MEASUREMENTS = ["k3s-cp/disk-gate-k3s", "karmada-host/disk-gate-k3s", "nuc/fsync-after", "nuc/fsync-before"];

/** The tuned properties of the nuc's dataset, read over SSH as `value source`. */
async function zfsProperties(): Promise<Record<string, string>> {
  const spec = loadStackSpec({ stack: "sim" });
  const session = await openSession(await connectionOf(spec, spec.hosts.nuc), { label: "nuc" });
  try {
    const r = await session.exec("sudo -n zfs get -H -o property,value,source atime,recordsize default");
    expect(r.code).toBe(0);
    return Object.fromEntries(
      r.stdout
        .trim()
        .split("\n")
        .map((l) => l.split("\t"))
        .map(([p, v, src]) => [p, `${v} ${src}`]),
    );
  } finally {
    await session.dispose();
  }
}

/** Stack outputs with the figures a run measures masked: keys, shapes and every other value must be equal. */
function masked(v: unknown): unknown {
  if (typeof v === "number") return "<figure>";
  if (typeof v === "string")
    return v.replace(/^(pass|warn): (\S+) fdatasync p99 [\d.]+ ms .*$/s, "<pass or warn>: $2 fdatasync p99 <figure>");
  if (Array.isArray(v)) return v.map(masked);
  if (typeof v === "object" && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, masked(x)]));
  return v;
}

/** What each step's run was, by name, without the steps that ran nothing (same) when `changedOnly`. */
const opsOf = (steps: { name: string; op: string }[], changedOnly = false): Record<string, string> =>
  Object.fromEntries(
    steps
      .filter((s) => !changedOnly || s.op !== "same")
      .map((s) => [s.name, s.op])
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  );

/** The steps of a failed run that ran to their end, other than those that ran nothing. */
const ranToEnd = (spans: StepSpan[]): string[] =>
  spans
    .filter((s) => !s.failed && s.end !== undefined && s.op !== "same")
    .map((s) => s.name)
    .sort();

/** Runs the real `pulumi up`, expecting it to fail: the error, and the steps of its events. */
async function failingUp(stack: string, onEvent?: (e: EngineEvent) => void) {
  const error = await up(cli!, undefined, [], { stack, events: true, onEvent }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(PulumiRunError);
  const run = (error as PulumiRunError).run;
  return { message: (error as Error).message, spans: stepSpans(run.events ?? []) };
}

/** Runs the mock-runtime engine's up, expecting it to fail: the error, and the steps that ran to their end. */
async function failingMockUp(opts: mock.UpOptions) {
  const ran: string[] = [];
  const error = await mock.up({ ...opts, onStep: (event, name) => event === "end" && ran.push(name) }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(mock.RunError);
  return { message: (error as Error).message, ran: ran.sort() };
}

/** The deletes' layers as lists of step names, highest layer first: the order both engines must delete in. */
const layersOf = (layer: Map<string, number>): string[][] =>
  [...new Set(layer.values())]
    .sort((a, b) => b - a)
    .map((l) =>
      [...layer]
        .filter(([, x]) => x === l)
        .map(([n]) => n)
        .sort(),
    );

/** Wall time of each scenario, printed at the end (the report's figures). */
const wall: Record<string, number> = {};
const timed = async <T>(name: string, f: () => Promise<T>): Promise<T> => {
  const t0 = Date.now();
  try {
    return await f();
  } finally {
    wall[name] = (Date.now() - t0) / 1000;
  }
};

/** What the real engine did in each scenario, which the mock-runtime engine must then do too. */
const real: {
  outputs?: Record<string, unknown>;
  /** The outputs after the setting change, which a run converging after a cut must give again. */
  outputsSettingChanged?: Record<string, unknown>;
  ops: Record<string, Record<string, string>>;
  /** The steps a failed run ran to their end (none of them `same`). */
  ran: Record<string, string[]>;
  layers?: string[][];
} = { ops: {}, ran: {} };

describe.skipIf(skipped !== undefined)(
  `the real Pulumi engine on the simulated testbed${skipped ? ` (skipped: ${skipped})` : ""}`,
  () => {
    let baseline: Record<string, string[]>;
    beforeAll(() => {
      simDown();
      forgetSimStack();
      simUp();
      baseline = Object.fromEntries(loadState().hosts.map((h) => [h.name, overlayFiles(h.name)]));
    }, 180_000);
    afterAll(async () => {
      if (simStackHasResources()) await destroy(cli!).catch(() => undefined);
      await mock.destroy().catch(() => undefined);
      simDown();
      forgetSimStack();
      console.log(`real-engine e2e wall times (s): ${JSON.stringify(wall)}`);
      const changed = Object.entries(real.ops).map(([k, ops]) => [
        k,
        Object.entries(ops)
          .filter(([, op]) => op !== "same")
          .map(([n, op]) => `${n}:${op}`),
      ]);
      console.log(`real engine, steps run per scenario: ${JSON.stringify(Object.fromEntries(changed))}`);
      console.log(`real engine, delete layers: ${JSON.stringify(real.layers)}`);
    }, 600_000);

    const noFileOfOurs = () => {
      expect(loadState().hosts.map((h) => h.name)).toEqual(machines);
      for (const h of machines) expect([h, overlayFiles(h).filter((f) => !baseline[h].includes(f))]).toEqual([h, []]);
    };

    it("pulumi preview lists every step of the plan, each a create, and prints no secret", async () => {
      await timed("preview", async () => {
        const opts = { stack: STACKS.base };
        const text = await preview(cli!, undefined, ["--diff", "--show-config"], opts);
        const json = await preview(cli!, undefined, ["--json"], opts);
        const steps = (JSON.parse(json.stdout) as { steps: { op: string; urn: string; newState?: { type: string } }[] })
          .steps;
        const commands = steps.filter((s) => s.newState?.type === "command:remote:Command");
        expect(commands.map((s) => s.urn.split("::").pop()!).sort()).toEqual(planned());
        expect(new Set(commands.map((s) => s.op))).toEqual(new Set(["create"]));
        for (const s of planned()) expect(text.stdout).toContain(s);
        const printed = [text.stdout, text.stderr, json.stdout, json.stderr].join("\n");
        for (const secret of secrets()) expect(printed.includes(secret)).toBe(false);
      });
    }, 180_000);

    it("pulumi up provisions the sim testbed, and a second up runs nothing", async () => {
      await timed("up", async () => {
        const first = await up(cli!, undefined, [], { stack: STACKS.base, events: true });
        console.log(`real engine, first up: ${first.wallMs / 1000} s`);
        real.ops.up = opsOf(stepSpans(first.events!));
        expect(Object.keys(real.ops.up).sort()).toEqual(planned());
        expect(new Set(Object.values(real.ops.up))).toEqual(new Set(["create"]));
        real.outputs = await stackOutputs(cli!);
        expect(real.outputs.vmAddresses).toEqual({ "karmada-host": "198.19.0.20", "k3s-cp": "198.19.0.21" });
        expect(real.outputs.kubeconfigs).toBe("[secret]");
        expect(
          Object.values(real.outputs.diskGates as Record<string, string>).every((g) => /^(pass|warn):/.test(g)),
        ).toBe(true);
        expect(real.outputs.zfsRecords).toMatchObject({
          nuc: { recorded: { atime: { value: "on", source: "default" } } },
        });
        expect(await zfsProperties()).toEqual({ atime: "off local", recordsize: "8K local" });
        for (const host of ["k3s-cp", "karmada-host"]) expect(overlayFiles(host)).toContain("/usr/local/bin/k3s");
        for (const secret of secrets()) expect([first.stdout, first.stderr].join("\n").includes(secret)).toBe(false);
      });
      await timed("second up", async () => {
        // No step's inputs changed: Pulumi runs nothing (`--expect-no-changes` fails the run otherwise).
        const again = await up(cli!, undefined, ["--expect-no-changes"], { stack: STACKS.base, events: true });
        real.ops.again = opsOf(stepSpans(again.events!));
        expect(new Set(Object.values(real.ops.again))).toEqual(new Set(["same"]));
      });
    }, 600_000);

    it("a changed ZFS property and agent labels update the tuning step and the Pi's agent, nothing else", async () => {
      await timed("setting changed", async () => {
        const r = await up(cli!, undefined, [], { stack: STACKS.settingChanged, events: true });
        real.ops.settingChanged = opsOf(stepSpans(r.events!));
        expect(opsOf(stepSpans(r.events!), true)).toEqual({ "nuc/zfs-tuning": "update", "pi/k3s-agent": "update" });
        expect(await zfsProperties()).toEqual({ atime: "off local", recordsize: "16K local" });
        real.outputsSettingChanged = await stackOutputs(cli!);
        // The tuning ran again and changed only the record size (atime was off already): its record says so.
        expect(real.outputsSettingChanged.zfsRecords).toMatchObject({ nuc: { changed: ["recordsize"] } });
      });
    }, 300_000);

    it("the connection cut in the middle of a step fails the run naming it; pulumi up again converges", async () => {
      await timed("connection cut", async () => {
        // Cut once the nuc's first measurement reports progress (fio has run for a second, with seconds to go).
        let cut = 0;
        const failed = await failingUp(STACKS.measuredLonger, (e) => {
          const d = e.diagnosticEvent;
          if (cut === 0 && d?.urn?.endsWith("::nuc/fsync-before") && d.message.startsWith("fdatasync latency:"))
            cut = cutConnections("nuc");
        });
        console.log(`real engine, connection cut: ${failed.message}`);
        expect(cut).toBeGreaterThan(0);
        expect(failed.message).toMatch(/nuc\/fsync-before/);
        expect(failed.spans.filter((s) => s.failed).map((s) => s.name)).toEqual(["nuc/fsync-before"]);
        real.ran.cut = ranToEnd(failed.spans);
        // What a user does: run it again. The step failed cleanly (no pending operation is left in the state), and
        // Pulumi kept its old inputs, so it is updated again, then everything after it.
        const rerun = await up(cli!, undefined, [], { stack: STACKS.measuredLonger, events: true });
        real.ops.cutRerun = opsOf(stepSpans(rerun.events!));
        expect(opsOf(stepSpans(rerun.events!), true)).toEqual(
          Object.fromEntries(MEASUREMENTS.map((m) => [m, "update"])),
        );
        expect(masked(await stackOutputs(cli!))).toEqual(masked(real.outputsSettingChanged));
      });
    }, 300_000);

    it("a changed host key stops the run, naming the host; pinned again, the host's steps update", async () => {
      await timed("host key changed", async () => {
        restartHost("jetson", { newHostKey: true });
        const failed = await failingUp(STACKS.jetsonRelabelled).finally(() => pinCurrentHostKey("jetson"));
        console.log(`real engine, changed host key: ${failed.message}`);
        expect(failed.message).toMatch(/jetson\/k3s-agent/);
        expect(failed.message).toMatch(/ssh: handshake failed: ssh: host key mismatch/);
        expect(failed.spans.filter((s) => s.failed).map((s) => s.name)).toEqual(["jetson/k3s-agent"]);
        real.ran.hostKey = ranToEnd(failed.spans);
        // The operator pinned the new key (after a legitimate reinstall): every jetson step's connection changed.
        const rerun = await up(cli!, undefined, [], { stack: STACKS.jetsonRelabelled, events: true });
        real.ops.hostKeyRerun = opsOf(stepSpans(rerun.events!));
        const updated = Object.keys(opsOf(stepSpans(rerun.events!), true));
        expect(updated.filter((n) => !n.startsWith("jetson/"))).toEqual([]);
        expect(updated).toContain("jetson/k3s-agent");
      });
    }, 300_000);

    it("pulumi destroy deletes layer by layer, restores the ZFS properties, removes the VMs and k3s, and leaves no file of ours", async () => {
      await timed("destroy", async () => {
        const graph = await stateGraph(cli!, { stack: STACKS.jetsonRelabelled });
        const layers = mock.deleteLayers(graph);
        const layer = new Map(
          graph.flatMap((n, i) => (n.type === "command:remote:Command" ? [[n.name, layers[i]] as const] : [])),
        );
        real.layers = layersOf(layer);
        const gone = await destroy(cli!, undefined, [], { stack: STACKS.jetsonRelabelled, events: true });
        const spans = new Map(stepSpans(gone.events!).map((s) => [s.name, s]));
        expect([...spans.values()].every((s: StepSpan) => s.op === "delete" && !s.failed)).toBe(true);
        expect([...spans.keys()].sort()).toEqual([...layer.keys()].sort());
        // Every delete of a higher layer ended before any of a lower layer began.
        for (const [a, la] of layer)
          for (const [b, lb] of layer)
            if (la > lb) expect([a, b, spans.get(a)!.end! < spans.get(b)!.start]).toEqual([a, b, true]);
        for (const secret of secrets()) expect([gone.stdout, gone.stderr].join("\n").includes(secret)).toBe(false);
        expect(simStackHasResources()).toBe(false);
        expect(await zfsProperties()).toEqual({ atime: "on default", recordsize: "128K default" });
        noFileOfOurs();
      });
    }, 300_000);

    // Issue 14, item 4: the same scenarios on the mock-runtime engine, from clean hosts, must do what the real
    // engine did with every step; where they differed, the real engine was right (README.md, "The real Pulumi
    // engine").
    it("the mock-runtime engine does with every step what the real engine did, and deletes in its order", async () => {
      expect(real.layers).toBeDefined();
      await timed("mock engine, all scenarios", async () => {
        // The real destroy removed the VMs a minute ago, and the nuc (the VMs' gateway and jump host, on their
        // bridge) still maps their addresses to the old VMs' MACs: the new VMs, at the same addresses, answer no
        // dial until those entries expire (36-69 s, measured). A real hypervisor's neighbor cache does the same;
        // it is not what this test is about.
        const nuc = loadState().hosts.find((h) => h.name === "nuc")!;
        expect(spawnSync("ip", ["-n", nuc.netns, "neigh", "flush", "dev", "eth1"]).status).toBe(0);
        const first = await timed("mock: up", () => mock.up({ stack: STACKS.base }));
        console.log(
          `mock-runtime engine, first up (s): ${first.steps.map((x) => `${x.name} ${x.startMs / 1000}-${x.endMs / 1000}`).join(", ")}`,
        );
        expect(opsOf(first.steps)).toEqual(real.ops.up);
        expect(masked(first.outputs)).toEqual(masked(real.outputs));
        expect(opsOf((await mock.up({ stack: STACKS.base })).steps)).toEqual(real.ops.again);
        const changed = await timed("mock: setting changed", () => mock.up({ stack: STACKS.settingChanged }));
        expect(opsOf(changed.steps)).toEqual(real.ops.settingChanged);
        expect(masked(changed.outputs)).toEqual(masked(real.outputsSettingChanged));

        const t0 = Date.now();
        const cut = await failingMockUp({ stack: STACKS.measuredLonger, cutAt: "nuc/fsync-before" });
        expect(cut.message).toMatch(/^step nuc\/fsync-before on host nuc: /);
        expect(cut.ran).toEqual(real.ran.cut);
        expect(opsOf((await mock.up({ stack: STACKS.measuredLonger })).steps)).toEqual(real.ops.cutRerun);
        wall["mock: connection cut"] = (Date.now() - t0) / 1000;

        const t1 = Date.now();
        restartHost("jetson", { newHostKey: true });
        const key = await failingMockUp({ stack: STACKS.jetsonRelabelled }).finally(() => pinCurrentHostKey("jetson"));
        expect(key.message).toMatch(/^step jetson\/k3s-agent on host jetson: host jetson: SSH host key mismatch/);
        expect(key.ran).toEqual(real.ran.hostKey);
        expect(opsOf((await mock.up({ stack: STACKS.jetsonRelabelled })).steps)).toEqual(real.ops.hostKeyRerun);
        wall["mock: host key changed"] = (Date.now() - t1) / 1000;

        // The deletes: the same layers, in the same order, each layer's deletes ended before the next began.
        const saved = JSON.parse(fs.readFileSync(mock.STATE_FILE, "utf8")) as { name: string; deleteLayer: number }[];
        const layer = new Map(saved.map((a) => [a.name, a.deleteLayer]));
        expect(layersOf(layer)).toEqual(real.layers);
        const runs = new Map((await timed("mock: destroy", () => mock.destroy())).map((r) => [r.name, r]));
        for (const [a, la] of layer)
          for (const [b, lb] of layer)
            if (la > lb && runs.has(a) && runs.has(b))
              expect([a, b, runs.get(a)!.endMs <= runs.get(b)!.startMs]).toEqual([a, b, true]);
        expect(await zfsProperties()).toEqual({ atime: "on default", recordsize: "128K default" });
        noFileOfOurs();
      });
    }, 900_000);
  },
);
