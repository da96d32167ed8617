import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";

const root = path.resolve(__dirname, "../..");
const cli = (...args: string[]) =>
  spawnSync("node", [path.join(root, "scripts/testbed.js"), ...args], { encoding: "utf8", timeout: 120_000 });

describe("testbed disk-check", () => {
  it("measures a directory here and prints one JSON object with the verdict", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "testbed-diskcheck-"));
    const r = cli("disk-check", "--path", dir, "--size-mib", "0.5", "--json");
    fs.rmSync(dir, { recursive: true, force: true });
    const report = JSON.parse(r.stdout);
    expect(report).toMatchObject({
      where: "localhost",
      path: dir,
      syncs: 227,
      thresholds: { warnMs: 10, failMs: 100 },
    });
    expect(r.status).toBe(report.verdict === "pass" ? 0 : 1);
    for (const k of ["p50Ms", "p99Ms", "p999Ms", "maxMs", "iops"]) expect(report[k]).toBeGreaterThan(0);
  });

  it("fails the verdict (exit 1) against a threshold the disk cannot meet", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "testbed-diskcheck-"));
    const r = cli("disk-check", "--path", dir, "--size-mib", "0.25", "--warn-ms", "0.0001", "--fail-ms", "0.0002");
    fs.rmSync(dir, { recursive: true, force: true });
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/^verdict: fail: fdatasync p99 \d+\.\d\d ms is above 0.0002 ms: a storage problem/m);
  });

  it("exits 2 naming a missing path", () => {
    const r = cli("disk-check", "--path", "/nonexistent/etcd");
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("testbed: localhost: path /nonexistent/etcd does not exist or is not a directory");
  });

  it("reports syncs done and planned, and streams progress lines on stderr", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "testbed-diskcheck-"));
    const r = cli("disk-check", "--path", dir, "--size-mib", "0.25", "--json");
    fs.rmSync(dir, { recursive: true, force: true });
    const report = JSON.parse(r.stdout);
    expect(report).toMatchObject({ planned: 113, budgetSeconds: 60 });
    expect(["complete", "certain"]).toContain(report.stopped);
    expect(r.stderr.split("\n")[0]).toBe(`measuring fdatasync latency at localhost:${dir}...`);
    for (const line of r.stderr.split("\n").slice(1).filter(Boolean))
      expect(line).toMatch(/^fdatasync latency: \d+ of 113 syncs, \d+ s, p99 so far \d+\.\d\d ms$/);
  });

  // Each refused as the spec refuses the diskGate setting (exit 2, the option named), before anything runs.
  it.each([
    [["--size-mib", "-1"], "--size-mib: -1 must be above 0"],
    [["--size-mib", "Infinity"], "--size-mib: Infinity is not a finite number"],
    [["--size-mib", "1e400"], "--size-mib: 1e400 is not a finite number"],
    [["--size-mib", "abc"], '--size-mib: "abc" is not a number'],
    [["--size-mib", "0.0001"], "--size-mib: 0.0001 is below the floor of 0.25"],
    [["--warn-ms", "NaN"], '--warn-ms: "NaN" is not a number'],
    [["--fail-ms", "0"], "--fail-ms: 0 must be above 0"],
    [["--budget-seconds", ""], '--budget-seconds: "" is not a number'],
    [["--warn-ms", "100"], "--warn-ms: warn limit 100 ms must be below the fail limit 100 ms"],
    [["--warn-ms", "50", "--fail-ms", "20"], "--warn-ms: warn limit 50 ms must be below the fail limit 20 ms"],
    [["--fail-ms", "5"], "--fail-ms: warn limit 10 ms must be below the fail limit 5 ms"],
  ])("refuses %j", (args, message) => {
    const r = cli("disk-check", "--path", "/tmp", ...args);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe(`testbed: ${message}\n`);
    expect(r.stdout).toBe("");
  });

  it("exits 2 on bad input", () => {
    expect(cli("disk-check", "--path", "/tmp", "--stack", "demo").stderr).toContain("--stack/--file need --host NAME");
    expect(cli("disk-check", "--path", "/tmp", "--stack", "demo", "--host", "nas").status).toBe(2);
  });
});
