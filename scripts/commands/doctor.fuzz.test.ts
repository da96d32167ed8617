/**
 * Issue 10's fuzz bar for doctor: random and truncated metrics pages and log files, read the way an operator feeds
 * them (an http server on 127.0.0.1 for --etcd-metrics, a file for --logs). Whatever comes in: no stack trace, exit
 * 0, 1 or 2 only, and no figure computed from data that cannot be read (a NaN p99 was how doctor said "healthy").
 * The generator is seeded (TESTBED_FUZZ_SEED replays another run): a failure names the seed, the case and the input.
 */
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { federationPage } from "../bench/etcdPages";
import { CliError } from "../cli";
import { examine, renderDoctor } from "./doctor";

const root = path.resolve(__dirname, "../..");
const fixtures = path.join(root, "components/etcd/fixtures");
const read = (name: string) => fs.readFileSync(path.join(fixtures, name), "utf8");
const PAGES = [
  read("etcd-3.4.23-metrics-healthy.txt"),
  read("etcd-3.4.23-metrics-slow-150ms.txt"),
  federationPage(3, 2),
];
const LOGS = [
  read("etcd-3.4.23-zap-slow-150ms.log"),
  read("k3s-journal-etcd-3.5-slow-disk.log"),
  read("etcd-3.4-capnslog-slow-disk.log"),
];
const SEED = Number(process.env.TESTBED_FUZZ_SEED ?? 20261126);
const T = { warnMs: 10, failMs: 100 };

/** mulberry32: a small seeded generator, so a failing case can be replayed. */
function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  return { next, int, pick: <T>(xs: readonly T[]): T => xs[int(xs.length)] };
}
type Rng = ReturnType<typeof rng>;

const VALUES = ["NaN", "+Inf", "-Inf", "-1", "", "1e400", "0x10", "abc", "0", "1e-320", "36", "9007199254740993"];
const randomText = (r: Rng, n: number) =>
  Array.from({ length: n }, () =>
    String.fromCodePoint(r.pick([r.int(0x7f), 0x20 + r.int(0x5f), 0x80 + r.int(0x2000), 0x1f600 + r.int(0x40)])),
  ).join("");

/** A metrics page: a real one cut short, or mutated line by line, or noise. */
function metricsPage(r: Rng): string {
  const base = r.pick(PAGES);
  switch (r.int(3)) {
    case 0:
      return base.slice(0, r.int(base.length));
    case 1: {
      const lines = base.split("\n");
      // Mostly the lines doctor reads, so the mutations land where they matter.
      const etcd = lines.map((l, i) => (/etcd_(disk_(wal|backend)|server_)/.test(l) ? i : -1)).filter((i) => i >= 0);
      for (let k = 1 + r.int(6); k > 0; k--) {
        const i = r.next() < 0.8 ? r.pick(etcd) : r.int(lines.length);
        const l = lines[i] ?? "";
        switch (r.int(7)) {
          case 0:
            lines[i] = l.replace(/ \S*$/, ` ${r.pick(VALUES)}`);
            break;
          case 1:
            lines.splice(i, 1);
            break;
          case 2:
            lines.splice(i, 0, l);
            break;
          case 3:
            lines[i] = l.slice(0, r.int(l.length + 1));
            break;
          case 4:
            lines[i] = l.replace(/le="[^"]*"/, `le="${r.pick(VALUES)}"`);
            break;
          case 5:
            lines.splice(i, 0, randomText(r, r.int(80)));
            break;
          default:
            lines[i] = `${l.slice(0, r.int(l.length + 1))}${randomText(r, 3)}${l.slice(r.int(l.length + 1))}`;
        }
      }
      return lines.join("\n");
    }
    default:
      return randomText(r, r.int(2000));
  }
}

/** A log: a real one cut short, lines mutated (zap ts out of range, odd durations), or noise. */
function logText(r: Rng): string {
  const base = r.pick(LOGS);
  switch (r.int(3)) {
    case 0:
      return base.slice(0, r.int(base.length));
    case 1: {
      const lines = base.split("\n");
      for (let k = 1 + r.int(5); k > 0; k--) {
        const i = r.int(lines.length);
        const l = lines[i];
        switch (r.int(5)) {
          case 0:
            lines[i] = l.replace(
              /"ts":"[^"]*"/,
              `"ts":${r.pick(["1e20", "-1e20", "1e308", "0", "-0.5", "1763630357.672"])}`,
            );
            break;
          case 1:
            lines[i] = l.replace(
              /"(took|exceeded-duration)":"[^"]*"/,
              `"$1":"${r.pick(["9".repeat(400) + "s", "1h1h1h", "-1s", "NaNms", ""])}"`,
            );
            break;
          case 2:
            lines[i] =
              `${l} elected leader x at term ${r.pick(["99999999999999999999999", "0", "-1"])} ${"{".repeat(r.int(5000))}`;
            break;
          case 3:
            lines[i] = l.slice(0, r.int(l.length + 1));
            break;
          default:
            lines.splice(i, 0, randomText(r, r.int(200)));
        }
      }
      return lines.join("\n");
    }
    default:
      return randomText(r, r.int(3000));
  }
}

describe("doctor on random and truncated input (issue 10's fuzz bar)", () => {
  it("in process: every page and log gives a report with finite figures, or a CliError; nothing else", () => {
    const r = rng(SEED);
    const outcomes = { report: 0, refused: 0 };
    for (let n = 0; n < 600; n++) {
      const page = metricsPage(r);
      const log = logText(r);
      const pages = r.next() < 0.85 ? [{ source: "fuzz", text: page }] : [];
      let report;
      try {
        report = examine(pages, [{ source: "fuzz.log", text: log }], T);
      } catch (err) {
        if (err instanceof CliError) {
          outcomes.refused++;
          continue;
        }
        throw new Error(
          `seed ${SEED} case ${n}: ${(err as Error).stack}\npage:\n${page.slice(0, 2000)}\nlog:\n${log.slice(0, 2000)}`,
        );
      }
      outcomes.report++;
      for (const m of report.members)
        for (const h of [m.walFsync, m.backendCommit])
          if (h !== undefined)
            expect([h.p50Ms, h.p99Ms].every(Number.isFinite), `seed ${SEED} case ${n}: ${m.member}`).toBe(true);
      expect(["healthy", "warn", "fail", "unknown"]).toContain(report.health);
      if (report.health === "healthy") expect(report.members.some((m) => m.walFsync !== undefined)).toBe(true);
      expect(() => renderDoctor(report)).not.toThrow();
    }
    // Both ways out are exercised, or the generator has gone blind.
    expect(outcomes.report).toBeGreaterThan(50);
    expect(outcomes.refused).toBeGreaterThan(50);
  });

  describe("through `testbed doctor`: --etcd-metrics from a server on 127.0.0.1, --logs from a file", () => {
    const CASES = 40;
    const r = rng(SEED + 1);
    const cases = Array.from({ length: CASES }, () => ({
      page: metricsPage(r),
      log: logText(r),
      // Some answers end mid-body: the connection is cut after part of the page.
      cutAt: r.next() < 0.25 ? r.next() : undefined,
      json: r.next() < 0.5,
    }));
    let server: http.Server;
    let base: string;
    let dir: string;
    beforeAll(async () => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), "testbed-doctor-fuzz-"));
      server = http.createServer((req, res) => {
        const c = cases[Number(req.url?.split("/")[2])];
        const body = Buffer.from(c.page, "utf8");
        if (c.cutAt === undefined) {
          res.writeHead(200, { "content-type": "text/plain; version=0.0.4" }).end(body);
          return;
        }
        res.writeHead(200, { "content-type": "text/plain; version=0.0.4", "content-length": body.length });
        res.write(body.subarray(0, Math.floor(body.length * c.cutAt)), () => res.destroy());
      });
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(async () => {
      await new Promise((resolve) => server.close(resolve));
      fs.rmSync(dir, { recursive: true, force: true });
    });

    const run = (n: number) => {
      const c = cases[n];
      const logs = path.join(dir, `case-${n}.log`);
      fs.writeFileSync(logs, c.log);
      const args = ["doctor", "--etcd-metrics", `${base}/case/${n}`, "--logs", logs, "--timeout", "5"];
      if (c.json) args.push("--json");
      return new Promise<{ n: number; status: number | null; stdout: string; stderr: string }>((resolve) => {
        const child = execFile(
          "node",
          [path.join(root, "scripts/testbed.js"), ...args],
          { encoding: "utf8", timeout: 60_000, maxBuffer: 64 * 1024 * 1024 },
          (_err, stdout, stderr) => resolve({ n, status: child.exitCode, stdout, stderr }),
        );
      });
    };

    it(`${CASES} cases: exit 0, 1 or 2 only, no stack trace, JSON when asked`, { timeout: 240_000 }, async () => {
      const results: Awaited<ReturnType<typeof run>>[] = [];
      // Two at a time: the machine is shared.
      for (let n = 0; n < CASES; n += 2)
        results.push(...(await Promise.all([run(n), ...(n + 1 < CASES ? [run(n + 1)] : [])])));
      for (const res of results) {
        const c = cases[res.n];
        const where = `seed ${SEED + 1} case ${res.n} (input in the message):\n${res.stderr}\npage:\n${c.page.slice(0, 2000)}`;
        expect([0, 1, 2], where).toContain(res.status);
        expect(res.stderr, where).not.toMatch(/^\s+at /m);
        expect(res.stderr, where).not.toMatch(/internal error/);
        if (res.stdout !== "") {
          if (c.json) {
            const report = JSON.parse(res.stdout);
            expect(res.status, where).toBe({ healthy: 0, warn: 1, fail: 1, unknown: 2 }[report.health as string]);
          } else expect(res.stdout, where).toMatch(/^verdict: (healthy|warn|fail|unknown)/m);
        } else {
          expect(res.status, where).toBe(2);
          expect(res.stderr, where).toMatch(/^testbed: /);
        }
      }
      // Both a verdict and a refusal happen, or the cases are all alike.
      expect(results.some((x) => x.status === 2)).toBe(true);
      expect(results.some((x) => x.status !== 2)).toBe(true);
    });
  });
});
