import * as fs from "node:fs";
import * as path from "node:path";
import { shq } from "../../components/remote/script";
import { parseProbeOutput } from "../../components/etcd/doctor";
import {
  DEFAULT_BUDGET_SECONDS,
  DEFAULT_FIO_SIZE_MIB,
  type DiskThresholds,
  MIN_FIO_SIZE_MIB,
  type Verdict,
} from "../../components/disk/thresholds";
import { parseFioJson } from "../../components/disk/fio";
import { diskCheck } from "../commands/diskCheck";
import { examine } from "../commands/doctor";
import { localRunner } from "../lib/hosts";
import { etcdStopScript, etcdUnderLoadScript } from "./etcdLoad";
import { federationPage } from "./etcdPages";

const THRESHOLDS: DiskThresholds = { warnMs: 10, failMs: 100 };
/** Benchmarks write where etcd and fio would share a disk: /var/tmp (never a tmpfs /tmp). */
const WORK_DIR = "/var/tmp";

/** strace arguments that delay every fdatasync of the traced processes by `ms` (the slow-disk fault). */
const slowDisk = (ms: number) =>
  ms > 0
    ? ["strace", "-f", "-o", "/dev/null", "-e", "trace=fdatasync", "-e", `inject=fdatasync:delay_exit=${ms * 1000}`]
    : [];

/** disk-check's measurement (its fresh directory under /var/tmp), here, with the slow-disk fault when `delayMs` > 0. */
async function diskCheckHere(delayMs: number, sizeMiB: number) {
  const r = await diskCheck({
    path: WORK_DIR,
    sizeMiB,
    thresholds: THRESHOLDS,
    where: "localhost",
    run: localRunner(slowDisk(delayMs)),
  });
  return {
    sizeMiB,
    wallS: r.seconds,
    p99Ms: r.p99Ms,
    verdict: r.verdict,
    syncs: r.syncs,
    planned: r.planned,
    stopped: r.stopped,
  };
}

/** The job as it ran before early verdicts: plain fio to the planned size, JSON at the end. */
async function fullJobHere(sizeMiB: number) {
  const started = Date.now();
  const dir = fs.mkdtempSync(path.join(WORK_DIR, "testbed-bench-fio-"));
  try {
    const r = await localRunner()(
      `cd ${shq(dir)} && fio --name=etcd-fdatasync --filename=f --rw=write --ioengine=sync --fdatasync=1 --bs=2300 ` +
        `--size=${Math.round(sizeMiB * 1024)}k --output-format=json`,
    );
    if (r.code !== 0) throw new Error(`fio: exit ${r.code}: ${r.stderr.trim()}`);
    const res = parseFioJson(r.stdout);
    return { wallS: (Date.now() - started) / 1000, p99Ms: res.p99Ms, syncs: res.syncs };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Debian's etcd on the same disk, in a private network namespace (its own loopback: no traffic leaves it), under the
 * slow-disk fault when `delayMs` > 0; `puts` sequential etcdctl writes; then its metrics page and log, read by doctor.
 */
async function etcdHere(delayMs: number, puts: number) {
  const dir = fs.mkdtempSync(path.join(WORK_DIR, "testbed-bench-etcd-"));
  const started = Date.now();
  try {
    const r = await localRunner(["unshare", "-n"])(`set -euo pipefail
ip link set lo up
trap ${shq(etcdStopScript(dir))} EXIT
${etcdUnderLoadScript({ dir, puts, prefix: slowDisk(delayMs) })}
echo "TESTBED section metrics"
curl -fsS http://127.0.0.1:2381/metrics
echo "TESTBED section log"
cat ${dir}/etcd.log
`);
    if (r.code !== 0) throw new Error(`etcd under load: exit ${r.code}: ${r.stderr.trim()}`);
    const { sections } = parseProbeOutput(r.stdout);
    const report = examine(
      [{ source: "etcd", text: sections.metrics ?? "" }],
      [{ source: "etcd log", text: sections.log ?? "" }],
      THRESHOLDS,
    );
    return {
      puts,
      wallS: (Date.now() - started) / 1000,
      walFsyncP99Ms: report.members[0]?.walFsync?.p99Ms ?? NaN,
      backendCommitP99Ms: report.members[0]?.backendCommit?.p99Ms ?? NaN,
      health: report.health,
      cause: report.cause,
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const AS_VERDICT: Record<string, Verdict> = { healthy: "pass", warn: "warn", fail: "fail" };

/** The storage benchmarks of issue 5: how well the gate predicts etcd, gate vs doctor under faults, doctor's speed. */
export async function benchStorage(log: (line: string) => void): Promise<Record<string, unknown>> {
  const f = (x: number) => (Number.isNaN(x) ? "-" : x.toFixed(2));
  log(
    `storage: time to a verdict at the default size (${DEFAULT_FIO_SIZE_MIB} MiB) and time budget (${DEFAULT_BUDGET_SECONDS} s) on this machine's disk (${WORK_DIR}), fdatasync delayed by strace...`,
  );
  const timeToVerdict = [];
  for (const delayMs of [0, 5, 20, 150]) {
    const r = await diskCheckHere(delayMs, DEFAULT_FIO_SIZE_MIB);
    timeToVerdict.push({ delayMs, ...r });
    log(
      `  ${String(delayMs).padStart(3)} ms: ${r.verdict} after ${r.wallS.toFixed(1)} s (${r.syncs} of ${r.planned} syncs, stopped: ${r.stopped}; p99 ${f(r.p99Ms)} ms)`,
    );
  }
  const baseline = timeToVerdict[0];
  const before = await fullJobHere(DEFAULT_FIO_SIZE_MIB);
  log(
    `  the job as before (plain fio to ${DEFAULT_FIO_SIZE_MIB} MiB, no status, no stop), no delay: ${before.wallS.toFixed(1)} s (${before.syncs} syncs, p99 ${f(before.p99Ms)} ms)`,
  );
  const etcdBaseline = await etcdHere(0, 500);
  log(
    `  etcd on the same disk, ${etcdBaseline.puts} puts: etcd_disk_wal_fsync_duration_seconds p99 ${f(etcdBaseline.walFsyncP99Ms)} ms, backend commit p99 ${f(etcdBaseline.backendCommitP99Ms)} ms (doctor: ${etcdBaseline.health})`,
  );

  // The gate against etcd's own view, under the same faults (smaller measurements: etcd's side is what takes time),
  // never below the size the CLI and the spec accept, so the bench measures a gate a user can run.
  const faults = [
    { delayMs: 5, sizeMiB: 1, puts: 300 },
    { delayMs: 20, sizeMiB: 0.5, puts: 200 },
    { delayMs: 150, sizeMiB: MIN_FIO_SIZE_MIB, puts: 40 },
  ];
  const rows = [];
  for (const fault of faults) {
    log(`storage: fdatasync delayed ${fault.delayMs} ms (strace) for fio and for etcd...`);
    const gate = await diskCheckHere(fault.delayMs, fault.sizeMiB);
    const etcd = await etcdHere(fault.delayMs, fault.puts);
    const agree = gate.verdict === AS_VERDICT[etcd.health];
    rows.push({ delayMs: fault.delayMs, gate, etcd, agree });
    log(
      `  gate: p99 ${f(gate.p99Ms)} ms -> ${gate.verdict} (${gate.sizeMiB} MiB, ${gate.wallS.toFixed(1)} s); ` +
        `doctor: WAL fsync p99 ${f(etcd.walFsyncP99Ms)} ms -> ${etcd.health}${etcd.cause ? ` (${etcd.cause})` : ""} (${etcd.puts} puts); ${agree ? "agree" : "DISAGREE"}`,
    );
  }

  const timeDoctor = (members: number) => {
    const page = federationPage(members, 10);
    const runs: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t = process.hrtime.bigint();
      examine([{ source: "federate", text: page }], [], THRESHOLDS);
      runs.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
    runs.sort((a, b) => a - b);
    return { members, pageBytes: page.length, pageLines: page.split("\n").length - 1, medianMs: runs[2] };
  };
  const doctorSpeed = [timeDoctor(10), timeDoctor(1000)];
  for (const d of doctorSpeed)
    log(
      `storage: doctor on a page of ${d.members} members (${d.pageLines} lines, ${(d.pageBytes / 1024).toFixed(0)} KiB): ${d.medianMs.toFixed(1)} ms (median of 5)`,
    );
  return {
    thresholds: THRESHOLDS,
    timeToVerdict,
    jobAsBefore: before,
    baseline: { diskCheck: baseline, etcd: etcdBaseline },
    faults: rows,
    doctorSpeed,
  };
}
