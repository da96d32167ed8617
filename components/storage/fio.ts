import { DEFAULT_FIO_SIZE_MIB } from "./thresholds";

/**
 * etcd's disk benchmark (etcd docs, "Hardware recommendations" / the IBM Cloud fio job): sequential 2300-byte
 * writes, each followed by fdatasync, as etcd's WAL does. What matters is the fdatasync latency distribution.
 */
export const FIO_BLOCK_SIZE = 2300;

/** Exit codes of the fio script, so a caller can say which precondition failed. */
export const FIO_EXIT = { noFio: 3, noPath: 4, noSpace: 5, fioFailed: 6 } as const;

export interface FioJob {
  /** Directory to measure (etcd's data dir, or a dataset's mount point). */
  path: string;
  /** Total bytes written, in MiB. Defaults to 22 (etcd's documented job). */
  sizeMiB?: number;
}

/**
 * The fio job as a bash body (it runs inside a step bundle or on its own): checks fio, the path and the free
 * space, writes in a fresh directory under the path that is removed afterwards, and prints fio's JSON on stdout.
 */
export function fioScriptBody(job: FioJob): string {
  const size = job.sizeMiB ?? DEFAULT_FIO_SIZE_MIB;
  const sizeKiB = Math.max(4, Math.round(size * 1024));
  const dir = JSON.stringify(job.path);
  return `command -v fio >/dev/null || { echo "fio is not installed (Debian/Ubuntu: apt-get install fio; package fio)" >&2; exit ${FIO_EXIT.noFio}; }
[ -d ${dir} ] || { echo "path ${job.path} does not exist or is not a directory" >&2; exit ${FIO_EXIT.noPath}; }
free_kib="$(df -Pk ${dir} | awk 'NR==2 {print $4}')"
need_kib=$(( ${sizeKiB} + 1024 ))
[ "\${free_kib:-0}" -ge "$need_kib" ] || { echo "no space for the ${size} MiB test file at ${job.path}: \${free_kib:-0} KiB free, $need_kib KiB needed" >&2; exit ${FIO_EXIT.noSpace}; }
# A run cut short (a dropped connection) can leave its directory behind: those are ours, remove them first.
rm -rf ${dir}/.testbed-fio.*
fio_dir="$(mktemp -d ${dir}/.testbed-fio.XXXXXX)"
trap 'rm -rf "$fio_dir"' EXIT
fio --name=etcd-fdatasync --directory="$fio_dir" --rw=write --ioengine=sync --fdatasync=1 \\
  --bs=${FIO_BLOCK_SIZE} --size=${sizeKiB}k --output-format=json || { echo "fio failed at ${job.path}" >&2; exit ${FIO_EXIT.fioFailed}; }`;
}

/** The job as a complete script, for running it on its own (`bash -s`). */
export function fioScript(job: FioJob): string {
  return `set -euo pipefail\n${fioScriptBody(job)}\n`;
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
}

interface FioLatency {
  max?: number;
  N?: number;
  percentile?: Record<string, number>;
}

const NS_PER_MS = 1e6;

/** The percentile `p` (e.g. 99.9) from fio's map, whose keys look like "99.900000". */
function percentile(map: Record<string, number>, p: number): number {
  const hit = Object.entries(map).find(([k]) => Math.abs(Number(k) - p) < 1e-9);
  if (hit === undefined) throw new Error(`fio reported no ${p}th percentile (has ${Object.keys(map).join(", ")})`);
  return hit[1];
}

/**
 * Reads the fdatasync latency from fio's JSON (`--output-format=json`). Works with fio 3.x (Debian's 3.33 and
 * newer 3.4x, which share `jobs[0].sync.lat_ns`); tolerates notes fio prints before the JSON.
 */
export function parseFioJson(text: string): FioResult {
  const start = text.indexOf("{");
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
  // fio reads percentiles off its latency histogram: each is its bin's upper value, up to ~1.6% above the truth, so
  // a p99 can read above the largest latency fio saw (152.04 ms over a 151.61 ms max with fdatasync delayed 150 ms).
  // No percentile exceeds the maximum.
  const maxMs = (lat.max ?? 0) / NS_PER_MS;
  const at = (p: number) => {
    const v = percentile(lat.percentile as Record<string, number>, p) / NS_PER_MS;
    return maxMs > 0 ? Math.min(v, maxMs) : v;
  };
  return {
    p50Ms: at(50),
    p99Ms: at(99),
    p999Ms: at(99.9),
    maxMs,
    iops: job?.write?.iops ?? 0,
    syncs: lat.N,
    fioVersion: doc["fio version"] ?? "unknown",
  };
}
