import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { FIO_EXIT, fioScript, parseFioJson } from "./fio";
import { explainVerdict, verdict } from "./thresholds";

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
