/** etcd's guidance: WAL fdatasync p99 should stay under 10 ms. */
export const DEFAULT_WARN_P99_MS = 10;
/** The incident: a p99 above 100 ms is a storage problem, not a configuration problem. */
export const DEFAULT_FAIL_P99_MS = 100;
/** The size of etcd's documented fio job (22 MiB of 2300-byte writes). */
export const DEFAULT_FIO_SIZE_MIB = 22;
/**
 * The smallest measurement: 0.25 MiB is 113 syncs of 2300 bytes. Below 100 syncs fio's p99 is simply the slowest
 * write (the 99th percentile of n < 100 samples is the largest), so a smaller run would judge a disk on one write.
 */
export const MIN_FIO_SIZE_MIB = 0.25;
/**
 * Wall-clock limit of one measurement, in seconds. Five measurements on the NUC then take five minutes at most, and a
 * disk at etcd's 10 ms guidance still makes 6,000 syncs in it (60 beyond its p99), evidence enough for a verdict.
 */
export const DEFAULT_BUDGET_SECONDS = 60;

export interface DiskThresholds {
  warnMs: number;
  failMs: number;
}

export type Verdict = "pass" | "warn" | "fail";

/** The verdict on an fdatasync p99: fail above failMs, warn above warnMs. */
export function verdict(p99Ms: number, t: DiskThresholds): Verdict {
  if (p99Ms > t.failMs) return "fail";
  if (p99Ms > t.warnMs) return "warn";
  return "pass";
}

/** One sentence explaining a verdict to an operator. */
export function explainVerdict(p99Ms: number, t: DiskThresholds): string {
  const p = p99Ms.toFixed(2);
  switch (verdict(p99Ms, t)) {
    case "pass":
      return `fdatasync p99 ${p} ms is within ${t.warnMs} ms: fast enough for etcd`;
    case "warn":
      return `fdatasync p99 ${p} ms is above ${t.warnMs} ms (etcd's guidance) but below ${t.failMs} ms: etcd will run, with slow requests under load`;
    case "fail":
      return `fdatasync p99 ${p} ms is above ${t.failMs} ms: a storage problem, not a configuration problem; etcd will miss heartbeats and elections`;
  }
}
