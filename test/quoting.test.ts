import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runWithZfsFuse, uniquePoolName, zfsFuseAvailable } from "./harness/zfsFuse";
import { stepProgram } from "../components/remote/script";
import { diskLatencyScript, zfsLatencyScript } from "../components/disk/measurement";
import { fioScript, parseFioJson } from "../components/disk/fio";
import { zfsTuningScript } from "../components/zfs/zfs";

// A hostile operator's values (issue 10, item 4): each would run `touch <marker>` if a script let bash read it as
// code. The scripts run for real; the marker must never appear.
const work = fs.mkdtempSync(path.join(os.tmpdir(), "testbed-quoting-"));
const marker = path.join(work, "PWNED");
const hostile = [
  `$(touch ${marker})`,
  `\`touch ${marker}\``,
  `'; touch ${marker}; '`,
  `"; touch ${marker}; "`,
  `x\ntouch ${marker}\n`,
  `a b $(touch ${marker}) c`,
  `\${IFS}$(touch\${IFS}${marker})`,
];
const job = { sizeMiB: 0.0625, thresholds: { warnMs: 10, failMs: 100 }, budgetSeconds: 30 };
const bash = (script: string, args: string[] = [], env?: NodeJS.ProcessEnv) =>
  spawnSync("bash", ["-s", "--", ...args], { input: script, encoding: "utf8", timeout: 60_000, env });

afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

describe("hostile values never run as code", () => {
  it.each(hostile.map((v, i) => [i, v]))("fio job at a directory named #%i", (i, value) => {
    // A real directory under that name: the whole job runs, fio included.
    const dir = path.join(work, `fio-${i}`, value);
    fs.mkdirSync(dir, { recursive: true });
    const r = bash(fioScript({ path: dir, ...job }));
    expect(fs.existsSync(marker)).toBe(false);
    expect(r.status).toBe(0);
    expect(parseFioJson(r.stdout).syncs).toBe(28);
    expect(fs.readdirSync(dir)).toEqual([]);
    // And at a missing one: the message names it verbatim.
    const missing = bash(fioScript({ path: `${dir}/missing`, ...job }));
    expect(fs.existsSync(marker)).toBe(false);
    expect(missing.stderr).toBe(`path ${dir}/missing does not exist or is not a directory\n`);
  });

  it.each(hostile.map((v, i) => [i, v]))("zfs steps with a host, dataset and property value like #%i", (i, value) => {
    // Without a zfs command: each script stops at its first check, naming the host.
    const env = { PATH: "/nonexistent-for-zfs:/usr/bin:/bin" };
    const tuning = stepProgram("nuc/zfs-tuning", zfsTuningScript(value, `pool/${value}`, { atime: value }));
    const measure = stepProgram("nuc/fsync-before", zfsLatencyScript(value, `pool/${value}`, `l${i}`, job));
    for (const [script, action] of [
      [tuning, "create"],
      [tuning, "delete"],
      [measure, "create"],
      [measure, "delete"],
    ])
      bash(script, [action], env);
    const r = bash(tuning, ["create"], env);
    expect(r.stderr).toBe(`host ${value}: the zfs command is missing (install zfsutils-linux)\n`);
    expect(fs.existsSync(marker)).toBe(false);
  });

  it.runIf(process.getuid?.() === 0).each(hostile.map((v, i) => [i, v]))(
    "a gate at a directory named #%i, created, measured and deleted",
    (i, value) => {
      const dir = path.join(work, `gate-${i}`, value, "db");
      const script = stepProgram("k3s-cp/disk-gate-k3s", diskLatencyScript(value, [dir], job));
      const created = bash(script, ["create"]);
      expect(fs.existsSync(marker)).toBe(false);
      expect(created.status).toBe(0);
      expect(fs.existsSync(dir)).toBe(true);
      const deleted = bash(script, ["delete"]);
      expect(fs.existsSync(marker)).toBe(false);
      expect(deleted.status).toBe(0);
    },
  );
});

// The real ZFS CLI refuses these names and values: the scripts stop at the refusal, and the marker never appears.
describe.runIf(zfsFuseAvailable())("hostile values against real ZFS (zfs-fuse)", () => {
  it("tuning and measurement with hostile datasets and property values", () => {
    const pool = uniquePoolName();
    const files: Record<string, string> = {};
    hostile.forEach((value, i) => {
      files[`tune-ds-${i}`] = stepProgram(
        "nuc/zfs-tuning",
        zfsTuningScript("nuc", `${pool}/${value}`, { atime: "off" }),
      );
      files[`tune-val-${i}`] = stepProgram("nuc/zfs-tuning", zfsTuningScript("nuc", pool, { atime: value }));
      files[`measure-${i}`] = stepProgram(
        "nuc/fsync-before",
        zfsLatencyScript("nuc", `${pool}/${value}`, `h${i}`, job),
      );
    });
    const commands = Object.keys(files)
      .map((f) => `bash -s -- create < "$FILES/${f}"; echo "${f} rc=$?"; bash -s -- delete < "$FILES/${f}" >/dev/null`)
      .join("\n");
    const r = runWithZfsFuse(commands, files, pool);
    expect(fs.existsSync(marker)).toBe(false);
    for (const f of Object.keys(files)) expect(r.stdout).toContain(`${f} rc=1`);
    expect(r.stderr).toContain(`host nuc: dataset ${pool}: this ZFS refuses atime=${hostile[0]}`);
  });
});
