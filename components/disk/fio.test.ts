import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { FIO_EXIT, FIO_SH, fioScript, parseFioJson, stopNote, verdictBounds } from "./fio";
import { type DiskThresholds, explainVerdict, verdict } from "./thresholds";

const fixture = (name: string) => fs.readFileSync(path.join(__dirname, "fixtures", name), "utf8");

describe("parseFioJson", () => {
  it("reads Debian's fio 3.33 (fast disk)", () => {
    expect(parseFioJson(fixture("fio-3.33-fast.json"))).toEqual({
      p50Ms: 0.211968,
      p99Ms: 0.509952,
      p999Ms: 1.35168,
      maxMs: 1.358516,
      iops: 4845.744681,
      syncs: 911,
      fioVersion: "fio-3.33",
      planned: 911,
      stopped: "complete",
      histogram: [],
    });
  });

  it("reads a slow disk (fdatasync delayed 20 ms by strace)", () => {
    const r = parseFioJson(fixture("fio-3.33-slow-20ms.json"));
    expect(r.p99Ms).toBeCloseTo(21.364736, 6);
    expect(r.p50Ms).toBeGreaterThan(20);
    expect(r.syncs).toBe(227);
  });

  it("never reports a percentile above the maximum (fio's histogram bins round up)", () => {
    const doc = JSON.parse(fixture("fio-3.33-fast.json"));
    // As measured with fdatasync delayed 150 ms: p99 read 152.04 ms off its bin, the largest latency was 151.61 ms.
    const lat = doc.jobs[0].sync.lat_ns;
    lat.percentile["99.000000"] = 152_043_520;
    lat.percentile["99.900000"] = 152_043_520;
    lat.max = 151_610_000;
    expect(parseFioJson(JSON.stringify(doc))).toMatchObject({ p99Ms: 151.61, p999Ms: 151.61, maxMs: 151.61 });
  });

  it("reads the newer fio shape, with a note printed before the JSON", () => {
    const r = parseFioJson(fixture("fio-3.42-shape.json"));
    expect(r).toMatchObject({ p99Ms: 0.509952, fioVersion: "fio-3.42" });
  });

  it("says what is wrong with output it cannot use", () => {
    expect(() => parseFioJson("fio: engine sync not loadable")).toThrow(
      "fio printed no JSON: fio: engine sync not loadable",
    );
    expect(() => parseFioJson('{"fio version":"fio-2.2","jobs":[{}]}')).toThrow(
      "fio fio-2.2 reported no fdatasync latency percentiles; fio 3.5 or newer is needed",
    );
  });
});

describe("parseFioJson on the script's json+ output", () => {
  it("reads the stop line, the planned syncs, the budget and the latency histogram", () => {
    const r = parseFioJson(fixture("fio-3.33-jsonplus-budget-20ms.txt"));
    expect(r).toMatchObject({
      syncs: 109,
      planned: 10029,
      stopped: "budget",
      budgetSeconds: 4,
      fioVersion: "fio-3.33",
    });
    expect(r.histogram.reduce((n, [, c]) => n + c, 0)).toBe(109);
    expect(r.histogram.map(([v]) => v)).toEqual([...r.histogram.map(([v]) => v)].sort((a, b) => a - b));
    expect(stopNote(r)).toBe(
      "; the 4 s time budget ended the run after 109 of 10029 planned syncs, and the verdict is from those",
    );
  });

  it("reads a run stopped once its verdict was certain", () => {
    const r = parseFioJson(fixture("fio-3.33-jsonplus-certain-150ms.txt"));
    expect(r).toMatchObject({ planned: 10029, stopped: "certain" });
    expect(r.syncs).toBeLessThan(r.planned);
    expect(verdictBounds({ ...r, maxNs: r.maxMs * 1e6 }, { warnMs: 10, failMs: 100 })).toEqual({
      lowest: "fail",
      highest: "fail",
    });
    expect(verdict(r.p99Ms, { warnMs: 10, failMs: 100 })).toBe("fail");
  });
});

/** fio's p99 off a histogram (calc_clat_percentiles, fio stat.c line 179 at fio-3.33), capped at the maximum. */
function fioP99Ns(histogram: [number, number][], n: number, maxNs: number): number {
  let sum = 0;
  for (const [v, c] of histogram) {
    sum += c;
    if (sum >= (99 / 100) * n) return Math.min(v, maxNs);
  }
  return maxNs;
}

describe("verdictBounds", () => {
  const t: DiskThresholds = { warnMs: 10, failMs: 100 };
  const ms = (x: number) => x * 1e6;
  const run = (histogram: [number, number][], planned: number) => {
    const syncs = histogram.reduce((n, [, c]) => n + c, 0);
    return { histogram, syncs, planned, maxNs: histogram.length ? histogram[histogram.length - 1][0] : 0 };
  };

  it("is certain of fail after floor(P / 100) + 1 slow syncs, and not one before", () => {
    expect(verdictBounds(run([[ms(150), 100]], 10029), t)).toEqual({ lowest: "pass", highest: "fail" });
    expect(verdictBounds(run([[ms(150), 101]], 10029), t)).toEqual({ lowest: "fail", highest: "fail" });
  });

  it("keeps fail possible until fewer syncs remain than the 1% fail needs", () => {
    // 20 ms syncs: warn from the start, fail reachable while 100 * remaining >= planned.
    expect(verdictBounds(run([[ms(20), 9928]], 10029), t)).toEqual({ lowest: "warn", highest: "fail" });
    expect(verdictBounds(run([[ms(20), 9929]], 10029), t)).toEqual({ lowest: "warn", highest: "warn" });
  });

  it("never claims a pass while the remaining syncs could still reach warn", () => {
    expect(verdictBounds(run([[ms(1), 9928]], 10029), t)).toEqual({ lowest: "pass", highest: "fail" });
    expect(verdictBounds(run([[ms(1), 9929]], 10029), t)).toEqual({ lowest: "pass", highest: "pass" });
  });

  it("needs the slowest sync above a limit: fio's bin value can sit above every sync in the bin", () => {
    const r = { ...run([[ms(100.5), 200]], 10029), maxNs: ms(99.9) };
    expect(verdictBounds(r, t).lowest).toBe("warn");
  });

  // The rule against fio's own percentile: random histograms, judged certain part-way, and then every completion of
  // the remaining syncs (all fast, all slow, random) ends in that verdict, by fio's p99.
  it("a certain verdict is the verdict fio's p99 gives the completed run, whatever the remaining syncs are", () => {
    let seed = 7;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const values = [ms(0.5), ms(5), ms(9.9), ms(10.1), ms(50), ms(99), ms(101), ms(150)];
    let certain = 0;
    for (let trial = 0; trial < 3000; trial++) {
      const planned = 50 + Math.floor(rand() * 400);
      const done = Math.floor(rand() * (planned + 1));
      const slowShare = rand() * 0.05;
      const samples = Array.from({ length: done }, () =>
        rand() < slowShare ? values[5 + Math.floor(rand() * 3)] : values[Math.floor(rand() * 5)],
      );
      const hist = (xs: number[]): [number, number][] => {
        const m = new Map<number, number>();
        for (const x of xs) m.set(x, (m.get(x) ?? 0) + 1);
        return [...m].sort((a, b) => a[0] - b[0]);
      };
      const b = verdictBounds({ ...run(hist(samples), planned), maxNs: Math.max(0, ...samples) }, t);
      if (b.lowest !== b.highest) continue;
      certain++;
      for (const fill of [values[0], values[7], -1]) {
        const rest = Array.from({ length: planned - done }, () => (fill >= 0 ? fill : values[Math.floor(rand() * 8)]));
        const all = [...samples, ...rest];
        const p99 = fioP99Ns(hist(all), planned, Math.max(...all));
        expect(verdict(p99 / 1e6, t)).toBe(b.lowest);
      }
    }
    expect(certain).toBeGreaterThan(100);
  });
});

/**
 * One status document laid out as fio 3.33 prints it with --output-format=json+ (json.c: 2-space indent, `"key" : `),
 * reduced to what the script reads, with a write section (its own max, N and bins) that the reader must skip.
 */
function statusDoc(d: { elapsed: number; n: number; maxNs: number; bins: [number, number][] }): string {
  const bins = d.bins.map(([v, c]) => `            "${v}" : ${c}`).join(",\n");
  return `{
  "fio version" : "fio-3.33",
  "jobs" : [
    {
      "jobname" : "etcd-fdatasync",
      "elapsed" : ${d.elapsed},
      "write" : {
        "clat_ns" : {
          "max" : 999999999999,
          "N" : 1,
          "bins" : {
            "999999999999" : 1
          }
        }
      },
      "sync" : {
        "total_ios" : 0,
        "lat_ns" : {
          "min" : 1,
          "max" : ${d.maxNs},
          "N" : ${d.n},
          "percentile" : {
            "99.000000" : ${d.maxNs}
          },
          "bins" : {
${bins}
          }
        }
      },
      "job_runtime" : 1
    }
  ]
}
`;
}

// The script's reader (awk) against verdictBounds: it interrupts fio exactly when the bounds meet.
describe("the status reader in the fio script", () => {
  // The program fio.sh holds, as the job's awk receives it.
  const awkOf = () => spawnSync("bash", ["-c", `${FIO_SH}\nfio_status_program`], { encoding: "utf8" }).stdout;
  const awk = awkOf();
  // fio stands in as a process that SIGINT ends; the reader interrupts it by pid.
  const read = async (docs: string, planned: number, t: DiskThresholds) => {
    const victim = spawn("sleep", ["30"], { stdio: "ignore" });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => victim.on("exit", (_, signal) => resolve(signal)));
    const r = spawnSync(
      "awk",
      [
        ...["-v", `planned=${planned}`, "-v", `warn=${t.warnMs * 1e6}`, "-v", `fail=${t.failMs * 1e6}`],
        ...["-v", "budget=60", "-v", "early=1", "-v", `pid=${victim.pid}`, awk],
      ],
      { input: docs, encoding: "utf8" },
    );
    const signal = await Promise.race([exited, new Promise<null>((resolve) => setTimeout(() => resolve(null), 60))]);
    victim.kill();
    return { ...r, killed: signal === "SIGINT" };
  };
  const t = { warnMs: 10, failMs: 100 };

  it("stops fio at the first status where fail is certain, and reports why", async () => {
    const docs = [1, 2].map((k) => statusDoc({ elapsed: k, n: 60 * k, maxNs: 152e6, bins: [[152e6, 60 * k]] }));
    const early = await read(docs[0], 10029, t);
    expect(early.killed).toBe(false);
    expect(early.stdout.split("\n")[0]).toBe("testbed-fio stop=budget planned=10029 budget=60");
    const r = await read(docs.join(""), 10029, t);
    expect(r.killed).toBe(true);
    expect(r.stdout.split("\n")[0]).toBe("testbed-fio stop=certain planned=10029 budget=60");
    expect(r.stdout.slice(r.stdout.indexOf("\n") + 1)).toBe(docs[1]);
    expect(r.stderr).toBe(
      "fdatasync latency: 60 of 10029 syncs, 1 s, p99 so far 152.00 ms\n" +
        "fdatasync latency: 120 of 10029 syncs, 2 s, p99 so far 152.00 ms\n",
    );
  });

  it("agrees with verdictBounds on random histograms", async () => {
    let seed = 11;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const values = [0.4e6, 4e6, 9.99e6, 10.5e6, 60e6, 99.99e6, 100.2e6, 180e6];
    const cases = Array.from({ length: 30 }, () => {
      const planned = 100 + Math.floor(rand() * 300);
      const n = Math.floor(rand() * (planned + 1));
      const counts = new Map<number, number>();
      for (let i = 0; i < n; i++) {
        const v = rand() < 0.03 ? values[5 + Math.floor(rand() * 3)] : values[Math.floor(rand() * 5)];
        counts.set(v, (counts.get(v) ?? 0) + 1);
      }
      const bins = [...counts].sort((a, b) => a[0] - b[0]);
      return { planned, n, bins, maxNs: bins.length ? bins[bins.length - 1][0] : 0 };
    });
    let stops = 0;
    for (const c of cases) {
      const b = verdictBounds({ histogram: c.bins, maxNs: c.maxNs, syncs: c.n, planned: c.planned }, t);
      const r = await read(statusDoc({ elapsed: 1, n: c.n, maxNs: c.maxNs, bins: c.bins }), c.planned, t);
      expect(r.killed).toBe(b.lowest === b.highest && c.n < c.planned);
      if (r.killed) stops++;
    }
    expect(stops).toBeGreaterThan(3);
  });
});

describe("verdict", () => {
  const t = { warnMs: 10, failMs: 100 };
  it.each([
    [0.5, "pass"],
    [10, "pass"],
    [10.01, "warn"],
    [100, "warn"],
    [153.2, "fail"],
  ] as const)("p99 %s ms -> %s", (p99, expected) => {
    expect(verdict(p99, t)).toBe(expected);
  });
  it("explains a failing disk as a storage problem", () => {
    expect(explainVerdict(153.2, t)).toBe(
      "fdatasync p99 153.20 ms is above 100 ms: a storage problem, not a configuration problem; etcd will miss heartbeats and elections",
    );
  });
});

describe("fioScript on this machine", () => {
  const run = (script: string) => spawnSync("bash", ["-s"], { input: script, encoding: "utf8", timeout: 120_000 });

  it("measures in a fresh directory and removes it", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "testbed-fio-"));
    const r = run(fioScript({ path: dir, sizeMiB: 1 }));
    expect(r.status).toBe(0);
    const result = parseFioJson(r.stdout);
    expect(result.syncs).toBe(455); // 1 MiB of whole 2300-byte writes
    expect(result.p99Ms).toBeGreaterThan(0);
    expect(fs.readdirSync(dir)).toEqual([]);
    fs.rmSync(dir, { recursive: true });
  });

  it("names a missing path", () => {
    const r = run(fioScript({ path: "/nonexistent/etcd" }));
    expect(r.status).toBe(FIO_EXIT.noPath);
    expect(r.stderr).toBe("path /nonexistent/etcd does not exist or is not a directory\n");
  });

  it("names the package when fio is missing", () => {
    const r = spawnSync("/bin/bash", ["-s"], {
      input: fioScript({ path: "/tmp" }),
      encoding: "utf8",
      env: { PATH: "/nonexistent" },
    });
    expect(r.status).toBe(FIO_EXIT.noFio);
    expect(r.stderr).toBe("fio is not installed (Debian/Ubuntu: apt-get install fio; package fio)\n");
  });

  it.runIf(process.getuid?.() === 0)("says when there is no room for the test file", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "testbed-full-"));
    const r = spawnSync("unshare", ["--mount", "bash", "-c", `mount -t tmpfs -o size=1m tmpfs ${dir} && bash -s`], {
      input: fioScript({ path: dir, sizeMiB: 22 }),
      encoding: "utf8",
    });
    fs.rmSync(dir, { recursive: true });
    expect(r.status).toBe(FIO_EXIT.noSpace);
    expect(r.stderr).toMatch(
      new RegExp(`^no space for the 22 MiB test file at ${dir}: \\d+ KiB free, 23552 KiB needed\\n$`),
    );
  });
});

// The slow disk of the incident, made with strace, on tmpfs (its own fdatasync is free, so the injected delay is the
// disk): the early verdict is the verdict of the same job run to its planned size.
const straceAvailable = process.getuid?.() === 0 && spawnSync("sh", ["-c", "command -v strace"]).status === 0;
describe.runIf(straceAvailable)("early verdicts match full-length runs (strace-injected fdatasync delay)", () => {
  const t = { warnMs: 10, failMs: 100 };
  const measure = (delayMs: number, sizeMiB: number, stopWhenCertain: boolean) => {
    const dir = fs.mkdtempSync(path.join("/dev/shm", "testbed-fio-"));
    const prefix =
      delayMs > 0
        ? [
            "strace",
            "-f",
            "-o",
            "/dev/null",
            "-e",
            "trace=fdatasync",
            "-e",
            `inject=fdatasync:delay_exit=${delayMs * 1000}`,
          ]
        : [];
    const started = Date.now();
    const r = spawnSync(prefix[0] ?? "bash", [...prefix.slice(1), ...(prefix.length ? ["bash"] : []), "-s"], {
      input: fioScript({ path: dir, sizeMiB, thresholds: t, stopWhenCertain }),
      encoding: "utf8",
      timeout: 120_000,
    });
    fs.rmSync(dir, { recursive: true, force: true });
    expect(r.stderr).not.toMatch(/fio failed/);
    expect(r.status).toBe(0);
    return { ...parseFioJson(r.stdout), seconds: (Date.now() - started) / 1000, stderr: r.stderr };
  };

  it("150 ms: fail, stopped as soon as it is certain", () => {
    // 128 KiB: 56 planned syncs; fail is certain at the first slow one (floor(56 / 100) + 1).
    const early = measure(150, 0.125, true);
    const full = measure(150, 0.125, false);
    expect(full).toMatchObject({ stopped: "complete", syncs: 56, planned: 56 });
    expect(early).toMatchObject({ stopped: "certain", planned: 56 });
    expect(early.syncs).toBeLessThan(56);
    expect(verdict(early.p99Ms, t)).toBe("fail");
    expect(verdict(full.p99Ms, t)).toBe("fail");
    expect(early.seconds).toBeLessThan(full.seconds / 2);
  });

  it("20 ms: warn, as the full run says", () => {
    const early = measure(20, 0.125, true);
    const full = measure(20, 0.125, false);
    expect(verdict(early.p99Ms, t)).toBe("warn");
    expect(verdict(full.p99Ms, t)).toBe("warn");
    // Fail stays possible until fewer than 1% of the planned syncs remain: the run goes (nearly) to its end.
    expect(early.syncs).toBeGreaterThanOrEqual(56 - 1);
  });

  it("a healthy disk: pass, over its planned size", () => {
    const early = measure(0, 0.25, true);
    const full = measure(0, 0.25, false);
    expect(verdict(early.p99Ms, t)).toBe("pass");
    expect(verdict(full.p99Ms, t)).toBe("pass");
    expect(full).toMatchObject({ stopped: "complete", syncs: 113 });
    expect(early.syncs).toBeGreaterThanOrEqual(113 - 1);
  });

  it("a time budget ends the run and says so", () => {
    const dir = fs.mkdtempSync(path.join("/dev/shm", "testbed-fio-"));
    const r = spawnSync(
      "strace",
      ["-f", "-o", "/dev/null", "-e", "trace=fdatasync", "-e", "inject=fdatasync:delay_exit=20000", "bash", "-s"],
      {
        input: fioScript({ path: dir, sizeMiB: 22, thresholds: t, budgetSeconds: 2 }),
        encoding: "utf8",
        timeout: 60_000,
      },
    );
    fs.rmSync(dir, { recursive: true, force: true });
    const res = parseFioJson(r.stdout);
    expect(res).toMatchObject({ stopped: "budget", planned: 10029, budgetSeconds: 2 });
    expect(res.syncs).toBeLessThan(200);
    expect(verdict(res.p99Ms, t)).toBe("warn");
    // Progress: one line a second at most, with syncs done, elapsed and the p99 so far.
    const lines = r.stderr.split("\n").filter((l) => l.startsWith("fdatasync latency: "));
    expect(lines.length).toBeGreaterThan(0);
    expect(lines[0]).toMatch(/^fdatasync latency: \d+ of 10029 syncs, \d+ s, p99 so far \d+\.\d\d ms$/);
    const seconds = lines.map((l) => /, (\d+) s,/.exec(l)?.[1]);
    expect(new Set(seconds).size).toBe(seconds.length);
  });
});
