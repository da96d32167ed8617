import { type ScriptValue, readShellFile, stepProgram } from "../remote/script";
import {
  DEFAULT_BUDGET_SECONDS,
  DEFAULT_FAIL_P99_MS,
  DEFAULT_FIO_SIZE_MIB,
  DEFAULT_WARN_P99_MS,
  type DiskThresholds,
  type Verdict,
} from "./thresholds";

/**
 * etcd's disk benchmark (etcd docs, "Hardware recommendations" / the IBM Cloud fio job): sequential 2300-byte
 * writes, each followed by fdatasync, as etcd's WAL does. What matters is the fdatasync latency distribution.
 */
export const FIO_BLOCK_SIZE = 2300;

/** Exit codes of the fio script, so a caller can say which precondition failed. */
export const FIO_EXIT = { noFio: 3, noPath: 4, noSpace: 5, fioFailed: 6 } as const;

/** How often fio prints its cumulative status, which the script reads to stop once the verdict is certain. */
export const FIO_STATUS_INTERVAL = "250ms";

export interface FioJob {
  /** Directory to measure (etcd's data dir, or a dataset's mount point). */
  path: string;
  /** Total bytes written, in MiB. Defaults to 22 (etcd's documented job). */
  sizeMiB?: number;
  /** The limits the run is judged against: it stops as soon as its verdict is certain. Defaults to 10 and 100 ms. */
  thresholds?: DiskThresholds;
  /** Wall-clock limit in seconds; the verdict then comes from the syncs made. Defaults to 60. */
  budgetSeconds?: number;
  /** Stop once the verdict is certain. Defaults to true; false runs the planned size (to compare against). */
  stopWhenCertain?: boolean;
}

/** Why a run ended: its planned size written, its verdict already certain, or its time budget spent. */
export type FioStop = "complete" | "certain" | "budget";

/** The whole 2300-byte writes fio makes in `sizeKiB` KiB: one fdatasync each. */
export function plannedSyncs(sizeKiB: number): number {
  return Math.floor((sizeKiB * 1024) / FIO_BLOCK_SIZE);
}

function positive(name: string, v: number): number {
  if (!Number.isFinite(v) || v <= 0) throw new Error(`fio job: ${name} ${v} is not a positive finite number`);
  return v;
}

/** The fio job's functions (`fio_job DIR`, and the status reader it runs): fio.sh. */
export const FIO_SH = readShellFile(__dirname, "fio.sh");

/**
 * The values the fio job reads from its program's header: size, planned syncs, limits in ns, time budget, whether
 * to stop once the verdict is certain, and the constants above. The directory is `fio_job`'s argument.
 */
export function fioValues(job: Omit<FioJob, "path">): Record<string, ScriptValue> {
  const size = positive("sizeMiB", job.sizeMiB ?? DEFAULT_FIO_SIZE_MIB);
  const t = job.thresholds ?? { warnMs: DEFAULT_WARN_P99_MS, failMs: DEFAULT_FAIL_P99_MS };
  const budget = Math.ceil(positive("budgetSeconds", job.budgetSeconds ?? DEFAULT_BUDGET_SECONDS));
  const sizeKiB = Math.max(4, Math.round(size * 1024));
  const ns = (ms: number) => Math.round(positive("threshold", ms) * 1e6);
  return {
    fio_size_mib: size,
    fio_size_kib: sizeKiB,
    fio_planned: plannedSyncs(sizeKiB),
    fio_warn_ns: ns(t.warnMs),
    fio_fail_ns: ns(t.failMs),
    fio_budget_s: budget,
    fio_early: job.stopWhenCertain === false ? 0 : 1,
    fio_block_size: FIO_BLOCK_SIZE,
    fio_status_interval: FIO_STATUS_INTERVAL,
    fio_exit_no_fio: FIO_EXIT.noFio,
    fio_exit_no_path: FIO_EXIT.noPath,
    fio_exit_no_space: FIO_EXIT.noSpace,
    fio_exit_failed: FIO_EXIT.fioFailed,
  };
}

/**
 * The job at one directory as a program of its own (`testbed disk-check` runs it with `bash -s`): fio.sh, and
 * disk-check.sh, whose create runs it at `path`. stdout is fio's: why the run stopped, then its JSON.
 */
export function fioScript(job: FioJob): string {
  return stepProgram("disk-check", {
    values: { ...fioValues(job), check_path: job.path },
    body: `${FIO_SH}\n\n${readShellFile(__dirname, "disk-check.sh")}`,
  });
}

/** fdatasync latency of one fio run, in milliseconds. */
export interface FioResult {
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  /** Write operations per second (each followed by an fdatasync). */
  iops: number;
  /** Number of fdatasync calls measured. */
  syncs: number;
  fioVersion: string;
  /** The syncs the planned size makes (a run stopped early made fewer). */
  planned: number;
  /** Why the run ended. */
  stopped: FioStop;
  /** The time budget the run had, in seconds (absent from a plain fio run). */
  budgetSeconds?: number;
  /** fdatasync latency histogram, ascending: [bin value in ns, count] (fio's json+ bins; empty with plain json). */
  histogram: [number, number][];
}

interface FioLatency {
  max?: number;
  N?: number;
  percentile?: Record<string, number>;
  bins?: Record<string, number>;
}

const NS_PER_MS = 1e6;

/** The percentile `p` (e.g. 99.9) from fio's map, whose keys look like "99.900000". */
function percentile(map: Record<string, number>, p: number): number {
  const hit = Object.entries(map).find(([k]) => Math.abs(Number(k) - p) < 1e-9);
  if (hit === undefined) throw new Error(`fio reported no ${p}th percentile (has ${Object.keys(map).join(", ")})`);
  return hit[1];
}

/**
 * Reads the fdatasync latency from fio's JSON (`--output-format=json` or `json+`). Works with fio 3.x (Debian's
 * 3.33 and newer 3.4x, which share `jobs[0].sync.lat_ns`); tolerates notes fio prints before the JSON, and reads the
 * line fio_job (fio.sh) prints before it (why the run stopped, the planned syncs, the budget).
 */
export function parseFioJson(text: string): FioResult {
  const stop = /^testbed-fio stop=(complete|certain|budget) planned=(\d+) budget=(\d+)$/m.exec(text);
  const start = text.indexOf("{", stop ? stop.index : 0);
  if (start < 0) throw new Error(`fio printed no JSON: ${text.slice(0, 200)}`);
  const doc = JSON.parse(text.slice(start)) as {
    "fio version"?: string;
    jobs?: { sync?: { lat_ns?: FioLatency; clat_ns?: FioLatency; total_ios?: number }; write?: { iops?: number } }[];
  };
  const job = doc.jobs?.[0];
  const lat = job?.sync?.lat_ns ?? job?.sync?.clat_ns;
  if (lat?.percentile === undefined || !lat.N)
    throw new Error(
      `fio ${doc["fio version"] ?? "(unknown version)"} reported no fdatasync latency percentiles; fio 3.5 or newer is needed`,
    );
  // fio reads percentiles off its latency histogram: each is the middle of its bin (plat_idx_to_val, fio stat.c
  // lines 105-126 at fio-3.33), up to ~1.6% off the truth, so a p99 can read above the largest latency fio saw
  // (152.04 ms over a 151.61 ms max with fdatasync delayed 150 ms). No percentile exceeds the maximum.
  const maxMs = (lat.max ?? 0) / NS_PER_MS;
  const at = (p: number) => {
    const v = percentile(lat.percentile as Record<string, number>, p) / NS_PER_MS;
    return maxMs > 0 ? Math.min(v, maxMs) : v;
  };
  const histogram = Object.entries(lat.bins ?? {})
    .map(([k, c]): [number, number] => [Number(k), c])
    .sort((a, b) => a[0] - b[0]);
  return {
    p50Ms: at(50),
    p99Ms: at(99),
    p999Ms: at(99.9),
    maxMs,
    iops: job?.write?.iops ?? 0,
    syncs: lat.N,
    fioVersion: doc["fio version"] ?? "unknown",
    planned: stop ? Number(stop[2]) : lat.N,
    stopped: stop ? (stop[1] as FioStop) : "complete",
    ...(stop ? { budgetSeconds: Number(stop[3]) } : {}),
    histogram,
  };
}

const RANK: Record<Verdict, number> = { pass: 0, warn: 1, fail: 2 };
const BY_RANK: Verdict[] = ["pass", "warn", "fail"];

/**
 * The verdicts a run can still end in, from what it has measured so far: the lowest and the highest over every
 * possible latency of its remaining syncs. They are equal when the verdict is certain, and the run may stop there.
 *
 * fio's p99 over n syncs is the value of the first histogram bin whose cumulative count reaches 99% of n
 * (calc_clat_percentiles, fio stat.c line 179 at fio-3.33: `sum >= 99.0 / 100.0 * nr`), and the verdict compares it,
 * capped at the slowest sync (parseFioJson), with the limit. So, at the planned count P, the full run's p99 is above a
 * limit exactly when more than 1% of the P syncs sit in bins above it, and the slowest sync is above it:
 * - lowest: once `100 * above > P` and the slowest sync so far is above the limit, no later sync can undo it
 *   (counts and the maximum only grow): the full run's verdict is at least that;
 * - highest: the remaining R syncs could all be slow, so the limit is still reachable while `100 * (above + R) >= P`.
 *   The comparison includes equality: fio computes 0.99 * P in long double, which may round just above an exact
 *   integer and pick the next bin, so "cannot exceed" is only claimed with a whole sync to spare.
 * A failing disk is thus certain after floor(P / 100) + 1 slow syncs (101 of etcd's 10,029); a passing or warning one
 * only within its last 1%, so a healthy disk runs (almost) its planned size.
 */
export function verdictBounds(
  run: { histogram: [number, number][]; maxNs: number; syncs: number; planned: number },
  t: DiskThresholds,
): { lowest: Verdict; highest: Verdict } {
  const above = (limitMs: number) =>
    run.histogram.filter(([v]) => v > limitMs * NS_PER_MS).reduce((sum, [, c]) => sum + c, 0);
  const remaining = Math.max(0, run.planned - run.syncs);
  const reached = (limitMs: number) => 100 * above(limitMs) > run.planned && run.maxNs > limitMs * NS_PER_MS;
  const reachable = (limitMs: number) => 100 * (above(limitMs) + remaining) >= run.planned;
  const lowest = reached(t.failMs) ? "fail" : reached(t.warnMs) ? "warn" : "pass";
  const highest = reachable(t.failMs) ? "fail" : reachable(t.warnMs) ? "warn" : "pass";
  return { lowest, highest: BY_RANK[Math.max(RANK[lowest], RANK[highest])] };
}

/** The stop reason as a clause an operator reads after the verdict, or "" for a run that wrote its planned size. */
export function stopNote(r: FioResult): string {
  switch (r.stopped) {
    case "complete":
      return "";
    case "certain":
      return `; stopped after ${r.syncs} of ${r.planned} planned syncs: the verdict was already certain`;
    case "budget":
      return `; the ${r.budgetSeconds ?? "?"} s time budget ended the run after ${r.syncs} of ${r.planned} planned syncs, and the verdict is from those`;
  }
}
