import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SECRET_MASK } from "../../scripts/lib/programRunner";
import { gate } from "../../components/disk/gate";
import * as engine from "../../scripts/sim/engine";
import { SIM_OUTPUTS_FILE, destroy } from "../../scripts/sim/engine";
import * as realEngine from "../../scripts/sim/pulumiEngine";
import { SIM_OUTPUTS_FILE as CLI_SIM_OUTPUTS_FILE, simStackOutputs } from "../../scripts/lib/stackOutputs";
import { PROOF_METRICS_URL, etcdLog, startEtcd, stopEtcd } from "./etcdProof";
import { overlaySnapshot, simAvailable, simStackWith } from "./helpers";
import {
  loadState,
  overlayFiles,
  pinCurrentHostKey,
  restartHost,
  simDown,
  simStatus,
  simUp,
  stopHost,
} from "../../scripts/sim/hosts";
import { connectionOf, loadStackSpec } from "../../scripts/lib/hosts";
import { openSession } from "../../components/remote/session";

/** The TCP connections this process still holds to an address (ss lists a socket with its owner until it is released). */
const ownSocketsTo = (address: string): string[] =>
  spawnSync("ss", ["-tnpH", "dst", address], { encoding: "utf8" })
    .stdout.split("\n")
    .filter((l) => l.includes(`pid=${process.pid},`));

/** Processes living in any of these network namespaces (by inode), whether or not the namespace still has a name. */
const processesIn = (netns: Set<number>): string[] =>
  fs
    .readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d))
    .filter((pid) => {
      try {
        return netns.has(fs.statSync(`/proc/${pid}/ns/net`).ino);
      } catch {
        return false; // exited meanwhile
      }
    })
    .flatMap((pid) => {
      try {
        return [`${pid} ${fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ").trim()}`];
      } catch {
        return []; // exited between the two reads
      }
    });

/** The sim stack without Karmada and vAccel (simStackWith): what every up here runs unless told another stack. */
const BASE_STACK = simStackWith();
const up = (opts: Parameters<typeof engine.up>[0] = {}) => engine.up({ stack: BASE_STACK, ...opts });

/** Runs up, expecting it to fail; returns the error and the steps that ran. */
async function failingUp(opts: Parameters<typeof up>[0] = {}): Promise<{ error: Error; ran: string[] }> {
  const ran: string[] = [];
  const error = await up({
    ...opts,
    onStep: (event, name, line) => {
      if (event === "end") ran.push(name);
      opts.onStep?.(event, name, line);
    },
  }).then(
    () => new Error("up succeeded"),
    (e: Error) => e,
  );
  return { error, ran };
}

/** Steps of the sim stack (`testbed plan --stack sim` lists them). */
const STEPS = 25;

/**
 * After a fault is cleared, a re-run must converge: it succeeds, and running every step once more (not only those
 * Pulumi would re-run) changes nothing, as on hosts a clean run left.
 */
async function expectConverges(): Promise<void> {
  const r = await up();
  expect(r.steps).toHaveLength(STEPS);
  const again = await up({ rerun: true });
  expect(again.steps.map((s) => s.op)).toEqual(Array(STEPS).fill("update"));
  expect(again.steps.filter((s) => s.changed).map((s) => s.name)).toEqual([]);
}

/** Steps that measure a disk: a change of the measurement size re-runs these and only these. */
const MEASUREMENTS = ["k3s-cp/disk-gate-k3s", "karmada-host/disk-gate-k3s", "nuc/fsync-after", "nuc/fsync-before"];

const cli = (...args: string[]) =>
  spawnSync("node", [path.resolve(__dirname, "../../scripts/testbed.js"), ...args], {
    encoding: "utf8",
    timeout: 240_000,
  });

// The real program against real SSH hosts: root and the Debian packages are needed (CI has both).
describe.runIf(simAvailable())("the simulated testbed, end to end", () => {
  let baseline: Record<string, string[]>;
  let firstOutputs: Record<string, unknown>;
  beforeAll(() => {
    simDown();
    simUp();
    baseline = Object.fromEntries(loadState().hosts.map((h) => [h.name, overlayFiles(h.name)]));
  }, 120_000);
  afterAll(() => simDown(), 120_000);

  it("provisions the sim stack over SSH: VMs behind the nuc, gates passed, secrets masked", async () => {
    const r = await up();
    firstOutputs = r.outputs;
    const names = r.steps.map((s) => s.name);
    expect(names).toHaveLength(STEPS);
    expect(new Set(r.steps.map((s) => s.op))).toEqual(new Set(["create"]));
    for (const host of ["nuc", "pi", "jetson", "k3s-cp", "karmada-host"]) expect(names).toContain(`${host}/reachable`);
    // Order: tuning after the first measurement, gates after tuning, k3s server after its gate, agents after it.
    const end = (n: string) => r.steps.find((s) => s.name === n)!.endMs;
    const start = (n: string) => r.steps.find((s) => s.name === n)!.startMs;
    expect(start("nuc/zfs-tuning")).toBeGreaterThanOrEqual(end("nuc/fsync-before"));
    expect(start("nuc/fsync-after")).toBeGreaterThanOrEqual(end("nuc/zfs-tuning"));
    // No VM launch writes to the pool while it is measured.
    for (const vm of ["nuc/vm-k3s-cp", "nuc/vm-karmada-host"])
      expect(start(vm)).toBeGreaterThanOrEqual(end("nuc/fsync-after"));
    // The gates on the nuc's disk run after every launch on it, and the k3s installs on it after every gate.
    const gates = MEASUREMENTS.filter((m) => m.includes("disk-gate"));
    for (const gate of gates)
      for (const vm of ["nuc/vm-k3s-cp", "nuc/vm-karmada-host"]) expect(start(gate)).toBeGreaterThanOrEqual(end(vm));
    for (const server of ["k3s-cp/k3s-server", "karmada-host/k3s-server"])
      for (const gate of gates) expect(start(server)).toBeGreaterThanOrEqual(end(gate));
    expect(start("pi/k3s-agent")).toBeGreaterThanOrEqual(end("k3s-cp/k3s-credentials"));
    expect(r.outputs.kubeconfigs).toBe(SECRET_MASK);
    // Saved for the CLI's --stack sim as `pulumi stack output --show-secrets` gives them: secrets in clear, 0600.
    const saved = JSON.parse(fs.readFileSync(SIM_OUTPUTS_FILE, "utf8")) as Record<string, unknown>;
    expect((fs.statSync(SIM_OUTPUTS_FILE).mode & 0o777).toString(8)).toBe("600");
    expect(Object.keys(saved).sort()).toEqual(Object.keys(r.outputs).sort());
    expect(JSON.stringify(saved.kubeconfigs)).toContain("apiVersion");
    expect(saved.vmAddresses).toEqual(r.outputs.vmAddresses);
    expect(CLI_SIM_OUTPUTS_FILE).toBe(SIM_OUTPUTS_FILE);
    // The real engine's module given directly: the CLI loads it lazily with require, which vitest does not resolve.
    expect(await simStackOutputs(SIM_OUTPUTS_FILE, () => realEngine)).toEqual(saved);
    expect(Object.values(r.outputs.diskGates as Record<string, string>).every((g) => /^(pass|warn):/.test(g))).toBe(
      true,
    );
    expect(r.outputs.vmAddresses).toEqual({ "karmada-host": "198.19.0.20", "k3s-cp": "198.19.0.21" });
    expect(r.outputs.zfsRecords).toMatchObject({ nuc: { recorded: { atime: { value: "on", source: "default" } } } });
    const status = await simStatus();
    expect(status.map((s) => `${s.name}:${s.answersSsh}`).sort()).toEqual(
      ["jetson", "k3s-cp", "karmada-host", "nuc", "pi"].map((n) => `${n}:true`),
    );
    // The VMs answer only inside their network: from here (the operator) there is no route, only the jump host.
    expect(spawnSync("bash", ["-c", "exec 3<>/dev/tcp/198.19.0.21/22"], { timeout: 5000 }).status).not.toBe(0);
  });

  it("a second up changes nothing on any host: it runs nothing, as pulumi up; forced to run everything, nothing changes", async () => {
    const before = overlaySnapshot();
    // Unchanged inputs: Pulumi runs no step and opens no connection; the outputs are those of the first up.
    const same = await up();
    expect(same.steps.map((s) => s.op)).toEqual(Array(STEPS).fill("same"));
    expect(same.sessionsPerHost).toEqual({});
    expect(same.outputs).toEqual(firstOutputs);
    expect(overlaySnapshot()).toEqual(before);
    // Every step run again (as after an upgrade that changes every script): each finds its work done.
    const again = await up({ rerun: true });
    expect(again.steps.filter((s) => s.changed).map((s) => s.name)).toEqual([]);
    expect(overlaySnapshot()).toEqual(before);
  });

  it(
    "a changed measurement size re-runs the measurements only, and k3s stays installed",
    { timeout: 180_000 },
    async () => {
      const stack = simStackWith((c) => (c["testbed:diskGate"] = { sizeMiB: 1 }));
      const r = await up({ stack });
      const ran = r.steps.filter((s) => s.op !== "same").map((s) => s.name);
      // k3s servers re-run only if a gate's verdict changed (pass -> warn), never for the figure alone; nothing is
      // replaced or deleted (a replaced install would be uninstalled by its old half's delete).
      expect(ran.filter((n) => !MEASUREMENTS.includes(n) && !n.endsWith("/k3s-server"))).toEqual([]);
      expect(ran).toEqual(expect.arrayContaining(MEASUREMENTS));
      expect(r.steps.filter((s) => s.op === "replace" || s.op === "delete")).toEqual([]);
      // "before" is measured again on a tuned pool: with the settings recorded before the tuning, not the tuned ones.
      expect(r.steps.find((s) => s.name === "nuc/fsync-before")?.detail).toBe(
        "measured fdatasync latency on default (before; with the settings recorded before tuning: atime=on recordsize=131072)",
      );
      for (const host of ["k3s-cp", "karmada-host"]) expect(overlayFiles(host)).toContain("/usr/local/bin/k3s");
      // Back to the stack's own size: the measurements run again, and the cluster is still there.
      const back = await up();
      expect(back.steps.filter((s) => s.op === "update").map((s) => s.name)).toEqual(
        expect.arrayContaining(MEASUREMENTS),
      );
      for (const host of ["k3s-cp", "karmada-host"]) expect(overlayFiles(host)).toContain("/usr/local/bin/k3s");
    },
  );

  it("status --json lists every host answering SSH", () => {
    const r = cli("sim", "status", "--json");
    expect(r.status).toBe(0);
    const rows = JSON.parse(r.stdout) as { name: string; answersSsh: boolean }[];
    expect(rows.map((x) => x.name).sort()).toEqual(["jetson", "k3s-cp", "karmada-host", "nuc", "pi"]);
    expect(rows.every((x) => x.answersSsh)).toBe(true);
  });

  describe("faults", () => {
    it(
      "a slow disk on a k3s server: the gate stops the install naming host, path, p99, limit and fix",
      { timeout: 180_000 },
      async () => {
        restartHost("k3s-cp", { slowDiskUs: 150_000 });
        // The smallest measurement (113 syncs): the fail verdict is certain after 2 syncs of 150 ms above the limit.
        const stack = simStackWith((c) => (c["testbed:diskGate"] = { sizeMiB: 0.25 }));
        const { error, ran } = await failingUp({ stack });
        expect(error.message).toMatch(
          /disk gate: host k3s-cp, path \/var\/lib\/rancher\/k3s\/server\/db: fdatasync p99 1\d\d\.\d\d ms is above the 100 ms limit, .*Fix: tune the dataset under it .*testbed:diskGate.accept: \[k3s-cp\]/s,
        );
        expect(ran).toContain("k3s-cp/disk-gate-k3s");
        expect(ran).not.toContain("k3s-cp/k3s-server");
        restartHost("k3s-cp");
        await expectConverges();
      },
    );

    it(
      "the connection cut in the middle of a step: a clear error, and a re-run converges",
      { timeout: 180_000 },
      async () => {
        // The nuc's "before" measurement runs for seconds: the cut lands in the middle of fio (and of whatever else
        // runs on the nuc then, such as the VM launches).
        const { error, ran } = await failingUp({ cutAt: "nuc/fsync-before", rerun: true });
        expect(error.message).toMatch(/^step nuc\/\S+ on host nuc: host nuc: the connection closed before/);
        expect(ran).not.toContain("nuc/fsync-before");
        await expectConverges();
      },
    );

    it(
      "the connection to a VM, through its jump host, cut in the middle of a step: a clear error, and a re-run converges",
      { timeout: 180_000 },
      async () => {
        // The VM's sshd sessions die; the nuc relays only the end of the stream (this used to hang the run).
        const { error, ran } = await failingUp({ cutAt: "k3s-cp/disk-gate-k3s", rerun: true });
        expect(error.message).toMatch(
          /^step k3s-cp\/disk-gate-k3s on host k3s-cp: host k3s-cp: the connection closed before the command finished/,
        );
        expect(ran).not.toContain("k3s-cp/k3s-server");
        await expectConverges();
      },
    );

    it(
      "a host key changed between runs stops the run before anything runs on that host",
      { timeout: 180_000 },
      async () => {
        const pinned = loadState().hosts.find((h) => h.name === "jetson")!.hostKey!;
        restartHost("jetson", { newHostKey: true });
        // Every step runs (an up with unchanged inputs would not connect to the jetson at all, as Pulumi would not).
        const { error, ran } = await failingUp({ rerun: true });
        expect(error.message).toMatch(
          /^step jetson\/reachable on host jetson: host jetson: SSH host key mismatch: the spec pins SHA256:\S+, the host presented SHA256:\S+\./,
        );
        expect(ran.filter((n) => n.startsWith("jetson/"))).toEqual([]);
        expect(loadState().hosts.find((h) => h.name === "jetson")!.hostKey).not.toBe(pinned);
        pinCurrentHostKey("jetson");
        await expectConverges();
      },
    );

    it(
      "a host down: the run names it and what it tried, and completes once it is back",
      { timeout: 180_000 },
      async () => {
        stopHost("jetson");
        const { error, ran } = await failingUp({ rerun: true });
        expect(error.message).toMatch(
          /^step jetson\/reachable on host jetson: host jetson: cannot connect to testbed@198\.18\.0\.12:22: /,
        );
        expect(ran).not.toContain("jetson/k3s-agent");
        restartHost("jetson");
        await expectConverges();
      },
    );
  });

  // Issue 5's proof: Debian's etcd on the k3s server VM, written to with etcdctl, read by the disk gate and by
  // doctor over the stack's connections (jump host, pinned keys), on a normal disk and on a slowed one.
  describe("proof on real etcd", () => {
    const db = "/var/lib/rancher/k3s/server/db";
    const doctor = async () => {
      const logs = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "testbed-proof-")), "etcd.log");
      fs.writeFileSync(logs, await etcdLog("k3s-cp"));
      const r = cli(
        "doctor",
        "--stack",
        "sim",
        "--host",
        "k3s-cp",
        "--metrics-url",
        PROOF_METRICS_URL,
        "--logs",
        logs,
        "--json",
      );
      fs.rmSync(path.dirname(logs), { recursive: true });
      return { status: r.status, report: JSON.parse(r.stdout), stderr: r.stderr };
    };
    const diskCheck = (sizeMiB: string) => {
      const r = cli("disk-check", "--stack", "sim", "--host", "k3s-cp", "--path", db, "--size-mib", sizeMiB, "--json");
      return { status: r.status, report: JSON.parse(r.stdout) };
    };
    const thresholds = { warnMs: 10, failMs: 100 };
    afterAll(async () => {
      await stopEtcd("k3s-cp").catch(() => undefined);
      restartHost("k3s-cp");
    }, 60_000);

    it("on a normal disk the gate passes and doctor says healthy", { timeout: 180_000 }, async () => {
      await startEtcd("k3s-cp", 100);
      const check = diskCheck("2");
      expect(check.status).toBe(0);
      expect(() => gate({ host: "k3s-cp", path: db, result: check.report, thresholds, accepted: false })).not.toThrow();
      const { status, report } = await doctor();
      expect(report).toMatchObject({ health: "healthy", findings: [] });
      expect(status).toBe(0);
      expect(report.members).toHaveLength(1);
      expect(report.members[0]).toMatchObject({ member: "k3s-cp", leaderChangesSeen: 1, slowApplies: 0 });
      expect(report.members[0].walFsync.count).toBeGreaterThanOrEqual(100);
      expect(report.logs[0].findings.signs.leaderElection.count).toBe(1);
      expect(report.unavailable).toEqual(["k3s-cp: journal: no k3s.service in this host's journal"]);
      await stopEtcd("k3s-cp");
    });

    it(
      "on a slowed disk the gate fails naming host, path, p99, limit and fix, and doctor names the disk",
      { timeout: 180_000 },
      async () => {
        // Every fdatasync under the host's sshd (fio's, and etcd's: both are started over SSH) waits 150 ms.
        restartHost("k3s-cp", { slowDiskUs: 150_000 });
        await startEtcd("k3s-cp", 30);
        const check = diskCheck("0.25"); // the CLI's floor; fail is certain after 2 slow syncs of 113
        expect(check.status).toBe(1);
        expect(check.report.verdict).toBe("fail");
        expect(() => gate({ host: "k3s-cp", path: db, result: check.report, thresholds, accepted: false })).toThrow(
          /^disk gate: host k3s-cp, path \/var\/lib\/rancher\/k3s\/server\/db: fdatasync p99 1\d\d\.\d\d ms is above the 100 ms limit, .*Fix: tune the dataset under it/s,
        );
        const { status, report } = await doctor();
        expect(status).toBe(1);
        expect(report).toMatchObject({ health: "fail", cause: "disk" });
        expect(report.summary).toMatch(
          /^etcd is sick, and the disk is the cause \(worst WAL fsync p99 \d+\.\d ms on k3s-cp\)/,
        );
        // From etcd's real metrics: its WAL fsyncs land in the 256 ms bucket...
        expect(report.members[0].walFsync.p99Ms).toBeGreaterThan(128);
        expect(report.findings[0].message).toMatch(
          /^k3s-cp: WAL fsync p99 \d+\.\d ms is above 100 ms \(\d+ fsyncs\): the disk under etcd is too slow$/,
        );
        // ...and from its real log lines: applies that took too long.
        expect(report.logs[0].findings.signs.tookTooLong.count).toBeGreaterThan(0);
        expect(report.logs[0].findings.signs.tookTooLong.worstMs).toBeGreaterThan(100);
      },
    );
  });

  it("destroy runs every delete in reverse order and leaves no file the provisioner made", async () => {
    const runs = await destroy();
    // As Pulumi destroys: a step's delete starts only after the deletes of every step depending on it have ended,
    // and independent deletes run together (the two agents leave the cluster at the same time).
    // The plan of what the engine ran.
    const plan = JSON.parse(cli("plan", "--file", BASE_STACK, "--json").stdout) as {
      name: string;
      dependsOn: string[];
    }[];
    const run = new Map(runs.map((r) => [r.name, r]));
    expect([...run.keys()].sort()).toEqual(plan.map((p) => p.name).sort());
    for (const step of plan)
      for (const dep of step.dependsOn)
        expect([step.name, dep, run.get(step.name)!.endMs <= run.get(dep)!.startMs]).toEqual([step.name, dep, true]);
    const [pi, jetson] = [run.get("pi/k3s-agent")!, run.get("jetson/k3s-agent")!];
    expect(pi.startMs < jetson.endMs && jetson.startMs < pi.endMs).toBe(true);
    expect(runs.find((r) => r.name === "nuc/zfs-tuning")?.detail).toBe(
      "restored on default: atime(default) recordsize(default)",
    );
    expect(loadState().hosts.map((h) => h.name)).toEqual(["nuc", "pi", "jetson"]);
    expect(fs.existsSync(SIM_OUTPUTS_FILE)).toBe(false); // the outputs (secrets in clear) go with the state
    for (const h of loadState().hosts)
      expect([h.name, overlayFiles(h.name).filter((f) => !baseline[h.name].includes(f))]).toEqual([h.name, []]);
  });

  it("a disconnect the host never answers is cut: no socket is left holding the process", async () => {
    const pi = loadState().hosts.find((h) => h.name === "pi")!;
    const spec = loadStackSpec({ stack: "sim" });
    const session = await openSession(await connectionOf(spec, spec.hosts.pi), { label: "pi" });
    expect((await session.exec("true")).code).toBe(0);
    expect(ownSocketsTo(pi.address)).toHaveLength(1);
    // The pi's link goes away, its sshd still running: the disconnect is never answered.
    spawnSync("ip", ["link", "set", pi.links[0], "down"]);
    try {
      await session.dispose();
      expect(ownSocketsTo(pi.address)).toEqual([]);
    } finally {
      spawnSync("ip", ["link", "set", pi.links[0], "up"]);
    }
  });

  it("sim down leaves no namespace, mount or process", async () => {
    // What sim down must clean up even so: an SSH session still open, and a daemon started over it in a session
    // of its own (as sshd's per-connection processes and the k3s double's server are).
    const spec = loadStackSpec({ stack: "sim" });
    const open = await openSession(await connectionOf(spec, spec.hosts.jetson), { label: "jetson" });
    expect((await open.exec("setsid sleep 600 </dev/null >/dev/null 2>&1 &")).code).toBe(0);
    const namespaces = new Set(loadState().hosts.map((h) => fs.statSync(`/run/netns/${h.netns}`).ino));
    // The shell returns once it has forked; the child execs setsid, then sleep, a moment later. Until then its
    // cmdline is the shell's (CI failed once on reading it too early).
    const deadline = Date.now() + 5000;
    while (!processesIn(namespaces).some((p) => / sleep 600$/.test(p)) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(processesIn(namespaces).some((p) => / sleep 600$/.test(p))).toBe(true);
    simDown();
    await open.dispose();
    expect(processesIn(namespaces)).toEqual([]);
    expect(spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout).not.toMatch(/tbs-/);
    expect(
      spawnSync("pgrep", ["-f", "sshd_config_sim|zfs-fuse --pidfile .*\\.sim|testbed-sim/doubles/k3s"]).status,
    ).toBe(1);
    expect(spawnSync("ip", ["link", "show", "tbsim0"]).status).not.toBe(0);
    expect(spawnSync("sh", ["-c", "grep -c '/.sim/' /proc/mounts"], { encoding: "utf8" }).stdout.trim()).toBe("0");
  });
});
