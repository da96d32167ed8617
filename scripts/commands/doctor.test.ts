import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { federationPage } from "../bench/etcdPages";
import { examine, renderDoctor } from "./doctor";

const root = path.resolve(__dirname, "../..");
const fixtures = path.join(root, "components/storage/fixtures");
const cli = (args: string[], input?: string) =>
  spawnSync("node", [path.join(root, "scripts/testbed.js"), ...args], { encoding: "utf8", timeout: 60_000, input });

describe("testbed doctor", () => {
  it("names the disk from a slow etcd's real metrics (exit 1, one JSON object)", () => {
    const r = cli(["doctor", "--etcd-metrics", path.join(fixtures, "etcd-3.4.23-metrics-slow-150ms.txt"), "--json"]);
    expect(r.status).toBe(1);
    const report = JSON.parse(r.stdout);
    expect(report).toMatchObject({ health: "fail", cause: "disk", thresholds: { warnMs: 10, failMs: 100 } });
    expect(report.members[0].walFsync.p99Ms).toBeCloseTo(254.72, 2);
    // JSON has no Infinity: the last bucket is written as Prometheus writes it.
    expect(report.members[0].walFsync.buckets.at(-1)).toEqual({ le: "+Inf", count: 36 });
  });

  it("says healthy (exit 0) with a table and the histogram", () => {
    const r = cli([
      "doctor",
      "--etcd-metrics",
      path.join(fixtures, "etcd-3.4.23-metrics-healthy.txt"),
      "--warn-ms",
      "30",
    ]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/WAL fsync +p50 +0\.78 ms +p99 +23\.0 ms +\(56 fsyncs\)/);
    expect(r.stdout).toContain("   ≤ 1 ms │████████████████████████████████████████     36");
    expect(r.stdout).toMatch(/^verdict: healthy: etcd is healthy/m);
  });

  it("reads logs from standard input and names the disk from slow fdatasync lines", () => {
    const r = cli(
      ["doctor", "--logs", "-"],
      fs.readFileSync(path.join(fixtures, "k3s-journal-etcd-3.5-slow-disk.log"), "utf8"),
    );
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/^log stdin \(8 lines read\)$/m);
    expect(r.stdout).toMatch(
      /"slow fdatasync" +2 {2}worst 2050\.0 ms {2}2026-11-20T09:19:17\.672Z \.\. 2026-11-20T09:24:02\.918Z/,
    );
    expect(r.stdout).toMatch(/^verdict: fail \(disk\): etcd is sick, and the disk is the cause/m);
  });

  it("exits 2 without a source, on an unreadable file, and on a page without etcd metrics", () => {
    expect(cli(["doctor"]).stderr).toBe(
      "testbed: say where etcd is: --stack NAME, --etcd-metrics URL..., or --logs FILE\n",
    );
    expect(cli(["doctor"]).status).toBe(2);
    const missing = cli(["doctor", "--etcd-metrics", "/nonexistent/metrics.txt"]);
    expect([missing.status, missing.stderr]).toEqual([
      2,
      "testbed: /nonexistent/metrics.txt: cannot read: ENOENT: no such file or directory, open '/nonexistent/metrics.txt'\n",
    ]);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "testbed-doctor-"));
    fs.writeFileSync(path.join(dir, "up.txt"), "# TYPE up gauge\nup 1\n");
    const other = cli(["doctor", "--etcd-metrics", path.join(dir, "up.txt")]);
    fs.rmSync(dir, { recursive: true });
    expect(other.status).toBe(2);
    expect(other.stderr).toMatch(/up\.txt: no etcd metrics on this page/);
    expect(cli(["doctor", "--stack", "sim", "--since", "2 hours"]).stderr).toBe(
      'testbed: --since: "2 hours" is not a duration like 30m, 1h or 90s\n',
    );
    expect(cli(["doctor", "--logs", "x", "--host", "k3s-cp"]).stderr).toBe(
      "testbed: --host needs --stack NAME or --file PATH\n",
    );
  });

  it("with --stack, refuses a host that runs no etcd", () => {
    // The demo stack, with its key file (~/.ssh/testbed_ed25519 on an operator's machine) somewhere readable.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "testbed-doctor-"));
    fs.mkdirSync(path.join(dir, "stacks"));
    fs.writeFileSync(path.join(dir, "key"), "not a key, never used\n");
    const demo = fs.readFileSync(path.join(root, "stacks/Pulumi.demo.yaml"), "utf8");
    fs.writeFileSync(
      path.join(dir, "stacks/Pulumi.demo.yaml"),
      demo.replaceAll("~/.ssh/testbed_ed25519", path.join(dir, "key")),
    );
    const r = cli(["doctor", "--file", path.join(dir, "stacks/Pulumi.demo.yaml"), "--host", "pi"]);
    fs.rmSync(dir, { recursive: true });
    expect([r.status, r.stderr]).toEqual([
      2,
      "testbed: --host pi runs no etcd in this stack (the etcd-bearing hosts are the cluster servers: karmada-host, k3s-cp)\n",
    ]);
  });

  it("on a page of 1,000 members, finds the slow ones and lists the slowest first", () => {
    const report = examine([{ source: "federate", text: federationPage(1000, 100) }], [], { warnMs: 30, failMs: 100 });
    expect(report.members).toHaveLength(1000);
    expect(report.health).toBe("fail");
    expect(report.findings.filter((f) => f.level === "fail").map((f) => f.message.split(":")[0])).toEqual(
      Array.from({ length: 10 }, (_, i) => `federate{instance="etcd-${i * 100 + 99}`),
    );
    const text = renderDoctor(report, 3);
    expect(text).toMatch(/^etcd members: 1000 \(the 3 with the slowest WAL fsync shown\)$/m);
    expect(text.match(/^ {2}federate\{instance="etcd-\d+:2381"\}$/gm)).toEqual([
      '  federate{instance="etcd-99:2381"}',
      '  federate{instance="etcd-199:2381"}',
      '  federate{instance="etcd-299:2381"}',
    ]);
  });
});
