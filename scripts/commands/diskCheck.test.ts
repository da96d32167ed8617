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

  it("exits 2 on bad input", () => {
    expect(cli("disk-check", "--path", "/tmp", "--size-mib", "-1").status).toBe(2);
    expect(cli("disk-check", "--path", "/tmp", "--stack", "demo").stderr).toContain("--stack/--file need --host NAME");
    expect(cli("disk-check", "--path", "/tmp", "--stack", "demo", "--host", "nas").status).toBe(2);
  });
});
