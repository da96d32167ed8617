import { execFile, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { federationPage } from "../bench/etcdPages";
import { doctorExitCode, examine, readPage, readProbe, renderDoctor } from "./doctor";
import { filledDemoText } from "../../test/harness/demoStack";
import { selfSignedCertificate } from "../../test/harness/certs";

const root = path.resolve(__dirname, "../..");
const fixtures = path.join(root, "components/etcd/fixtures");
const cli = (args: string[], input?: string) =>
  spawnSync("node", [path.join(root, "scripts/testbed.js"), ...args], { encoding: "utf8", timeout: 60_000, input });
/** The CLI without blocking this process, so a server in it can answer (or stall). */
const cliAsync = (args: string[]) =>
  new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = execFile(
      "node",
      [path.join(root, "scripts/testbed.js"), ...args],
      { encoding: "utf8", timeout: 60_000 },
      (_err, stdout, stderr) => resolve({ status: child.exitCode, stdout, stderr }),
    );
  });
const tmpFile = (name: string, text: string) => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "testbed-doctor-")), name);
  fs.writeFileSync(file, text);
  return file;
};

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
    // The demo stack, its images filled in and its key file (~/.ssh/testbed_ed25519 on an operator's machine)
    // somewhere readable.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "testbed-doctor-"));
    fs.mkdirSync(path.join(dir, "stacks"));
    fs.writeFileSync(path.join(dir, "key"), "not a key, never used\n");
    const demo = filledDemoText();
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

  // Issue 10, item 5.
  it("cannot judge a page whose WAL histogram has no +Inf bucket: exit 2, member and series named, no verdict", () => {
    const healthy = fs.readFileSync(path.join(fixtures, "etcd-3.4.23-metrics-healthy.txt"), "utf8");
    const file = tmpFile(
      "metrics.txt",
      healthy.replace(/^etcd_disk_wal_fsync_duration_seconds_bucket\{le="\+Inf"\}.*\n/m, ""),
    );
    const r = cli(["doctor", "--etcd-metrics", file, "--warn-ms", "30"]);
    fs.rmSync(path.dirname(file), { recursive: true });
    expect([r.status, r.stdout, r.stderr]).toEqual([
      2,
      "",
      `testbed: cannot judge etcd's health: a series cannot be read, and a verdict on them would be a guess\n  ${file}: etcd_disk_wal_fsync_duration_seconds: no le="+Inf" bucket, so no total to rank against\n`,
    ]);
  });

  // Issue 10, item 6.
  it("from logs alone, never says the disk keeps up; clean logs alone give no verdict (exit 2)", () => {
    const slow = cli(["doctor", "--logs", path.join(fixtures, "etcd-3.4.23-zap-slow-150ms.log")]);
    expect(slow.status).toBe(1);
    expect(slow.stdout).not.toMatch(/keeps up/);
    expect(slow.stdout).toMatch(
      /^verdict: warn: etcd is at risk, and its disk could not be judged \(no WAL fsync metrics/m,
    );
    const clean = cli(["doctor", "--logs", "-", "--json"], "nothing to see\n");
    expect(clean.status).toBe(2);
    expect(JSON.parse(clean.stdout)).toMatchObject({ health: "unknown", findings: [], members: [] });
  });

  // Issue 10, item 11: the CLI checks its numbers as the spec does.
  it.each([
    [["--max-members", "abc"], '--max-members: "abc" is not a whole number of 1 or more'],
    [["--max-members", "0"], '--max-members: "0" is not a whole number of 1 or more'],
    [["--max-members", "2.5"], '--max-members: "2.5" is not a whole number of 1 or more'],
    [["--warn-ms", "Infinity"], "--warn-ms: Infinity is not a finite number"],
    [["--fail-ms", "abc"], '--fail-ms: "abc" is not a number'],
    [["--fail-ms", ""], '--fail-ms: "" is not a number'],
    [["--warn-ms", "100", "--fail-ms", "50"], "--warn-ms: warn limit 100 ms must be below the fail limit 50 ms"],
    [["--warn-ms", "100"], "--warn-ms: warn limit 100 ms must be below the fail limit 100 ms"],
    [["--fail-ms", "5"], "--fail-ms: warn limit 10 ms must be below the fail limit 5 ms"],
    [["--timeout", "0"], "--timeout: 0 must be above 0"],
    [["--timeout", "1e10"], "--timeout: 10000000000 s is more than 3600 s"],
    [["--metrics-url", "ftp://x/metrics"], '--metrics-url: "ftp://x/metrics" is not an http(s) URL'],
    [["--metrics-url", "http://x/\n$(id)"], '--metrics-url: "http://x/\\n$(id)" is not an http(s) URL'],
  ])("refuses %j with exit 2, naming the option", (args, message) => {
    const r = cli(["doctor", "--etcd-metrics", path.join(fixtures, "etcd-3.4.23-metrics-healthy.txt"), ...args]);
    expect([r.status, r.stdout, r.stderr]).toEqual([2, "", `testbed: ${message}\n`]);
  });

  it("lists as many members as --max-members says", () => {
    const file = tmpFile("federate.txt", federationPage(5, 0));
    const r = cli(["doctor", "--etcd-metrics", file, "--warn-ms", "30", "--max-members", "2"]);
    fs.rmSync(path.dirname(file), { recursive: true });
    expect(r.stdout).toMatch(/^etcd members: 5 \(the 2 with the slowest WAL fsync shown\)$/m);
    expect(r.stdout.match(/^ {2}\S+$/gm)).toHaveLength(2);
  });

  it("with --stack, drops a page curl gave up on half-way, and names the URL that did not answer", () => {
    // curl -fsS --max-time 10 prints what it got before timing out, then the probe says the metrics are unavailable.
    const out = [
      "TESTBED section metrics",
      "# TYPE etcd_disk_wal_fsync_duration_seconds histogram",
      'etcd_disk_wal_fsync_duration_seconds_bucket{le="0.001"} 3',
      "TESTBED unavailable metrics: nothing answers at the metrics URL (k3s on its default sqlite store has no etcd; or etcd is down)",
      "TESTBED section journal",
      "2026-11-20T09:19:17+0000 k3s[1]: slow fdatasync",
      "",
    ].join("\n");
    expect(readProbe("k3s-cp", out, "http://127.0.0.1:2381/metrics")).toEqual({
      pages: [],
      logs: [{ source: "k3s-cp k3s journal", text: "2026-11-20T09:19:17+0000 k3s[1]: slow fdatasync\n\n" }],
      unavailable: [
        "k3s-cp: metrics: nothing answers at http://127.0.0.1:2381/metrics (k3s on its default sqlite store has no etcd; or etcd is down)",
      ],
      noMetrics: ["k3s-cp"],
      certificates: [],
    });
  });

  it("with --stack on the Karmada host, says how long Karmada's certificates have left, and exits 1 when one is about to go", () => {
    const cert = (days: number) => selfSignedCertificate("ca", days);
    const page = fs.readFileSync(path.join(fixtures, "etcd-3.4.23-metrics-healthy.txt"), "utf8");
    const out = (days: number) =>
      ["TESTBED section metrics", page, "TESTBED section karmada-cert-server-ca.crt", cert(days), ""].join("\n");
    const t = { warnMs: 50, failMs: 100 };
    const year = readProbe("karmada-host", out(365), "u");
    expect(year.certificates.map((c) => c.key)).toEqual(["server-ca.crt"]);
    const fine = examine(year.pages, [], t, { certificates: year.certificates });
    expect(fine.health).toBe("healthy");
    expect(fine.certificates?.health).toBe("healthy");
    expect(doctorExitCode(fine)).toBe(0);
    expect(renderDoctor(fine)).toMatch(
      /\nKarmada's certificates:\n {2}karmada-host server-ca\.crt: Karmada's CA, valid until \d{4}-\d\d-\d\d \(364 days left\)\n/,
    );
    const soon = readProbe("karmada-host", out(5), "u");
    const report = examine(soon.pages, [], t, { certificates: soon.certificates });
    // etcd is healthy; the certificate is the verdict.
    expect(report.health).toBe("healthy");
    expect(doctorExitCode(report)).toBe(1);
    expect(renderDoctor(report)).toMatch(
      /\ncertificates: warn\n {2}! karmada-host server-ca\.crt: Karmada's CA expires on \d{4}-\d\d-\d\d, in 4 days/,
    );
    // Logs only (etcd cannot be judged) and certificates fine: still "cannot judge".
    expect(doctorExitCode(examine([], [{ source: "log", text: "" }], t, { certificates: year.certificates }))).toBe(2);
  });

  it("with --stack on the Karmada host, reads each Karmada etcd pod's page as its own member", () => {
    const page = fs.readFileSync(path.join(fixtures, "etcd-3.4.23-metrics-healthy.txt"), "utf8");
    const out = [
      "TESTBED section metrics",
      page,
      "TESTBED section journal",
      "TESTBED section karmada-etcd",
      "TESTBED section karmada-etcd-metrics-etcd-0",
      page,
      "TESTBED section karmada-etcd-metrics-etcd-1",
      "TESTBED unavailable karmada-etcd-metrics-etcd-1: the pod has no IP yet",
      "",
    ].join("\n");
    const read = readProbe("karmada-host", out, "http://127.0.0.1:2381/metrics");
    expect(read.pages.map((p) => p.source)).toEqual(["karmada-host", "karmada-host karmada etcd-0"]);
    expect(read.noMetrics).toEqual([]);
    expect(read.unavailable).toEqual(["karmada-host: karmada-etcd-metrics-etcd-1: the pod has no IP yet"]);
    const report = examine(read.pages, read.logs, { warnMs: 50, failMs: 100 });
    expect(report.members.map((m) => m.member)).toEqual(["karmada-host", "karmada-host karmada etcd-0"]);
    // No Karmada page at all: that etcd's disk is named as not judged.
    const none = readProbe(
      "karmada-host",
      out.replace(
        /TESTBED section karmada-etcd-metrics-etcd-0\n[^]*?(?=TESTBED section karmada-etcd-metrics-etcd-1)/,
        "",
      ),
      "u",
    );
    expect(none.noMetrics).toEqual(["karmada-host karmada etcd"]);
  });

  // Issue 10, item 7: a server that sends its headers and then stalls the body.
  describe("a metrics server that stalls", () => {
    let server: http.Server;
    let base: string;
    const open: http.ServerResponse[] = [];
    beforeAll(async () => {
      server = http.createServer((req, res) => {
        if (req.url === "/stall-headers") return void open.push(res);
        res.writeHead(200, { "content-type": "text/plain; version=0.0.4" });
        res.write("# TYPE etcd_server_has_leader gauge\n");
        open.push(res);
      });
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(async () => {
      for (const res of open) res.destroy();
      await new Promise((resolve) => server.close(resolve));
    });

    it("times out on the body with an error naming the URL, no stack trace (exit 2)", async () => {
      const r = await cliAsync(["doctor", "--etcd-metrics", `${base}/metrics`, "--timeout", "1"]);
      expect([r.status, r.stdout, r.stderr]).toEqual([
        2,
        "",
        `testbed: ${base}/metrics: no complete answer within 1 s (the body stopped after 36 bytes)\n`,
      ]);
    });

    it("times out on the headers too", async () => {
      await expect(readPage(`${base}/stall-headers`, 0.3)).rejects.toThrow(
        `${base}/stall-headers: no complete answer within 0.3 s (no response headers)`,
      );
    });
  });
});
