import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { runWithZfsFuse, uniquePoolName, zfsFuseAvailable } from "../../test/harness/zfsFuse";
import { parseResult, shq, stepProgram } from "../remote/script";
import { recordFile, zfsTuningScript } from "./zfs";
import { resultOf, zfsLatencyScript } from "../disk/measurement";

const job = (sizeMiB: number) => ({ sizeMiB, thresholds: { warnMs: 10, failMs: 100 }, budgetSeconds: 60 });

describe("zfsTuningScript as text", () => {
  const s = zfsTuningScript("nuc", "default", { sync: "disabled", atime: "off" });
  it("checks support before it changes anything and records before it sets", () => {
    const order = ["does not support property", "refuses", "zfs get -H -p -o property,value,source", "zfs set"];
    const at = order.map((needle) => s.body.indexOf(needle));
    expect(at.every((i) => i >= 0)).toBe(true);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
  });
  it("restores local values with zfs set and everything else with zfs inherit", () => {
    const del = s.body.slice(s.body.indexOf("step_delete() {"));
    expect(del).toContain('local) zfs set "$prop=$value" "$zfs_dataset"');
    expect(del).toContain('*) zfs inherit "$prop" "$zfs_dataset"');
  });
  it("keeps one record file per dataset", () => {
    expect(recordFile("tank/incus/default")).toBe("/var/lib/testbed/zfs/tank%incus%default.tsv");
  });
});

// A user property's value is any string (zfsprops(7), "User Properties"): quotes and backslashes in what was recorded
// used to break the step's JSON, built by awk and printf. A stand-in zfs answers as `zfs get -H` does (tab-separated
// fields, one property per line) for a dataset whose note already differs from the wanted one.
describe("zfsTuningScript's output with quotes in recorded values", () => {
  it("is JSON whatever the recorded values hold", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "testbed-zfs-json-"));
    try {
      const bin = path.join(dir, "bin");
      fs.mkdirSync(bin);
      const note = 'say "hi" \\ back\\slash';
      fs.writeFileSync(
        path.join(bin, "zfs"),
        [
          "#!/bin/bash",
          'case "$1 $2 $3 $4" in',
          `  "get -H -p -o") printf '%s\\t%s\\t%s\\n' org.example:note ${shq(note)} local ;;`,
          `  "get -H -o value") printf '%s\\n' ${shq(note)} ;;`,
          "esac",
          "exit 0",
          "",
        ].join("\n"),
        { mode: 0o755 },
      );
      const ds = 'tank/"odd"';
      const script = zfsTuningScript("nuc", ds, { "org.example:note": "plain" });
      const record = path.join(dir, "record.tsv");
      const program = stepProgram("nuc/zfs-tuning", {
        ...script,
        values: { ...script.values, zfs_record_dir: dir, zfs_record: record },
      });
      const r = spawnSync("bash", ["-s", "--", "create"], {
        input: program,
        encoding: "utf8",
        env: { PATH: `${bin}:/usr/bin:/bin` },
      });
      expect(r.stderr).toBe("");
      expect(parseResult(r.stdout)).toEqual({
        changed: true,
        detail: `zfs set on ${ds}: org.example:note`,
        output: {
          dataset: ds,
          recorded: { "org.example:note": { value: note, source: "local" } },
          changed: ["org.example:note"],
        },
      });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

// The real ZFS CLI (zfs-fuse): it accepts atime and recordsize and rejects sync and lz4, like an old ZFS would.
describe.runIf(zfsFuseAvailable())("zfsTuningScript on real ZFS (zfs-fuse)", () => {
  const pool = uniquePoolName();
  const tune = stepProgram("nuc/zfs-tuning", zfsTuningScript("nuc", pool, { atime: "off", recordsize: "8k" }));
  const get = `zfs get -H -o property,value,source atime,recordsize ${pool}`;
  const zfs = (commands: string, files: Record<string, string>) => runWithZfsFuse(commands, files, pool);

  it("records, tunes, is a no-op the second time, and restores exactly on delete", () => {
    const r = zfs(
      `set -e
zfs set recordsize=64k ${pool}   # a local value, to be set back (not inherited) on delete
bash -s -- create < $FILES/tune; echo ---
bash -s -- create < $FILES/tune; echo ---
${get}; echo ---
bash -s -- delete < $FILES/tune; echo ---
${get}; ls /var/lib/testbed/zfs`,
      { tune },
    );
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const [first, second, tuned, deleted, restored] = r.stdout.split("---\n");
    expect(parseResult(first)).toEqual({
      changed: true,
      detail: `zfs set on ${pool}: atime recordsize`,
      output: {
        dataset: pool,
        recorded: { atime: { value: "on", source: "default" }, recordsize: { value: "65536", source: "local" } },
        changed: ["atime", "recordsize"],
      },
    });
    expect(parseResult(second)).toMatchObject({
      changed: false,
      detail: `${pool} already has atime=off recordsize=8k`,
      // The record of the first run survives: it is what delete restores.
      output: { recorded: { atime: { value: "on", source: "default" } }, changed: [] },
    });
    expect(tuned).toBe("atime\toff\tlocal\nrecordsize\t8K\tlocal\n");
    expect(parseResult(deleted)).toEqual({
      changed: true,
      detail: `restored on ${pool}: atime(default) recordsize(local)`,
    });
    expect(restored).toBe("atime\ton\tdefault\nrecordsize\t64K\tlocal\n");
  });

  it("refuses what this ZFS does not support before changing anything, naming host, dataset, property and value", () => {
    const demo = stepProgram("nuc/zfs-tuning", zfsTuningScript("nuc", pool, { atime: "off", sync: "disabled" }));
    const lz4 = stepProgram("nuc/zfs-tuning", zfsTuningScript("nuc", pool, { atime: "off", compression: "lz4" }));
    const r = zfs(
      `bash -s -- create < $FILES/demo; echo "rc=$?"; bash -s -- create < $FILES/lz4; echo "rc=$?"; ${get}; zfs list -H -o name`,
      { demo, lz4 },
    );
    expect(r.stderr.trim().split("\n")).toEqual([
      `host nuc: dataset ${pool}: this ZFS does not support property sync (zfs get said: bad property list: invalid property 'sync'); nothing was changed`,
      `host nuc: dataset ${pool}: this ZFS refuses compression=lz4 (zfs said: cannot create '${pool}/testbed-probe': 'compression' must be one of 'on | off | lzjb | gzip | gzip-[1-9] | zle'); nothing was changed`,
    ]);
    expect(r.stdout).toBe(`rc=1\nrc=1\natime\ton\tdefault\nrecordsize\t128K\tdefault\n${pool}\n`);
  });

  it("measures fdatasync on a child dataset before and after tuning, leaving nothing behind", () => {
    const before = stepProgram("nuc/fsync-before", zfsLatencyScript("nuc", pool, "before", job(0.125)));
    const after = stepProgram("nuc/fsync-after", zfsLatencyScript("nuc", pool, "after", job(0.125)));
    const r = zfs(
      `set -e
bash -s -- create < $FILES/before; echo ---
bash -s -- create < $FILES/tune >/dev/null
bash -s -- create < $FILES/after; echo ---
zfs list -H -o name; ls /var/lib/testbed`,
      { before, after, tune },
    );
    expect(r.code).toBe(0);
    const [b, a, left] = r.stdout.split("---\n");
    expect(resultOf(b).syncs).toBe(56); // 128 KiB of 2300-byte writes
    expect(resultOf(a).syncs).toBe(56);
    expect(b).toContain(`TESTBED unchanged measured fdatasync latency on ${pool} (before)`);
    expect(left).toBe(`${pool}\nzfs\n`);
  });

  it('measures "before" with the recorded original settings once the dataset is tuned (a re-run)', () => {
    const before = stepProgram(
      "nuc/fsync-before",
      zfsLatencyScript("nuc", pool, "before", job(0.125), { asRecorded: true }),
    );
    const r = zfs(
      `set -e
bash -s -- create < $FILES/before; echo ---
bash -s -- create < $FILES/tune >/dev/null
bash -s -- create < $FILES/before; echo ---
${get}; echo ---
zfs list -H -o name`,
      { before, tune },
    );
    expect(r.code, r.stderr).toBe(0);
    const [first, again, parent, left] = r.stdout.split("---\n");
    expect(first).toContain(`TESTBED unchanged measured fdatasync latency on ${pool} (before)`);
    // The parent stays tuned; the measurement's own dataset had the values zfs reported before the tuning.
    expect(again).toContain(
      `TESTBED unchanged measured fdatasync latency on ${pool} (before; with the settings recorded before tuning: atime=on recordsize=131072)`,
    );
    expect(resultOf(again).syncs).toBe(56);
    expect(parent).toBe("atime\toff\tlocal\nrecordsize\t8K\tlocal\n");
    expect(left).toBe(`${pool}\n`);
  });

  it("says which datasets exist when the spec names a missing one", () => {
    const s = stepProgram("nuc/zfs-tuning", zfsTuningScript("nuc", "tank/vms", { atime: "off" }));
    const r = zfs(`bash -s -- create < $FILES/s`, { s });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`host nuc: ZFS dataset tank/vms does not exist (zfs list shows: ${pool} )\n`);
  });
});
