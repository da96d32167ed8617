/**
 * etcd's log lines that told the incident's story, counted with the first and last time seen. Works on etcd's zap
 * JSON lines (etcd 3.4+ with --logger=zap, 3.5 default, the Karmada etcd pod, k3s' embedded etcd in its journal), on
 * capnslog lines (etcd 3.4's default), and on those lines behind a journald or `kubectl logs --timestamps` prefix.
 */

export const LOG_SIGNS = {
  /** A request or apply slower than etcd expects (100 ms): the disk, the CPU or both. */
  tookTooLong: {
    label: '"took too long"',
    pattern: /^(?!.*failed to send out heartbeat).*took too long/,
  },
  /** The leader could not send heartbeats in time: etcd 3.5 says "likely from slow disk". */
  heartbeatLate: {
    label: '"failed to send out heartbeat on time"',
    pattern: /failed to send out heartbeat on time/,
  },
  /** A WAL fdatasync over one second (zap: "slow fdatasync"; capnslog: "sync duration of X, expected less than 1s"). */
  slowFdatasync: {
    label: '"slow fdatasync"',
    pattern: /slow fdatasync|sync duration of .*expected less than/,
  },
  /** A member won an election ("elected leader ... at term N"; one per new term). */
  leaderElection: {
    label: "leader elections",
    pattern: /elected leader .* at term \d+/,
  },
} as const;

export type LogSign = keyof typeof LOG_SIGNS;

export interface SignCount {
  count: number;
  /** When it was first and last seen, as the log wrote it (undefined when a line has no time). */
  first?: string;
  last?: string;
  /** The longest duration those lines report ("took", "exceeded-duration", "sync duration of"), in ms. */
  worstMs?: number;
}

export interface LogFindings {
  lines: number;
  signs: Record<LogSign, SignCount>;
}

const ISO_TIME = /\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?/;
const SYSLOG_TIME = /^[A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2}/;
const GO_DURATION_PART = /(\d+(?:\.\d+)?)(ns|us|µs|μs|ms|s|m|h)/g;
const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** A Go duration ("172.85ms", "1.2s", "1m2.5s") in ms; undefined when it is not one. */
export function parseGoDuration(text: string): number | undefined {
  if (!/^(\d+(\.\d+)?(ns|us|µs|μs|ms|s|m|h))+$/.test(text)) return undefined;
  let ms = 0;
  for (const [, n, unit] of text.matchAll(GO_DURATION_PART)) ms += Number(n) * UNIT_MS[unit];
  return ms;
}

/** The zap JSON object on a line (possibly behind a journald or kubectl prefix), if there is one. */
function jsonPart(line: string): Record<string, unknown> | undefined {
  const at = line.indexOf("{");
  if (at === -1 || !line.trimEnd().endsWith("}")) return undefined;
  try {
    const v: unknown = JSON.parse(line.slice(at));
    return typeof v === "object" && v !== null ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function timeOf(line: string, json: Record<string, unknown> | undefined): string | undefined {
  const ts = json?.ts;
  if (typeof ts === "string") return ts;
  if (typeof ts === "number") {
    // zap's epoch encoder writes seconds; a number beyond Date's range (±8.64e15 ms) has no ISO form, so the line's
    // own text time, if any, stands in.
    const at = new Date(ts * 1000);
    if (Number.isFinite(at.getTime())) return at.toISOString();
  }
  return ISO_TIME.exec(line)?.[0] ?? SYSLOG_TIME.exec(line)?.[0];
}

function durationOf(line: string, json: Record<string, unknown> | undefined): number | undefined {
  if (json !== undefined) {
    for (const key of ["took", "exceeded-duration"]) {
      const v = json[key];
      if (typeof v === "string") {
        const ms = parseGoDuration(v);
        if (ms !== undefined) return ms;
      }
    }
    return undefined;
  }
  // capnslog: "sync duration of 1.5s, expected less than 1s", "took too long (1.2s) to execute",
  // "exceeded the 100ms timeout for 1.2s".
  const m = /sync duration of (\S+?),|took too long \((\S+?)\)|timeout for (\S+?)(?:,|\)|$)/.exec(line);
  const d = m?.[1] ?? m?.[2] ?? m?.[3];
  return d === undefined ? undefined : parseGoDuration(d);
}

/** Counts the incident's signs in a log text. */
export function analyzeEtcdLogs(text: string): LogFindings {
  const signs = Object.fromEntries(Object.keys(LOG_SIGNS).map((k) => [k, { count: 0 }])) as Record<LogSign, SignCount>;
  const terms = new Set<string>();
  let lines = 0;
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    lines++;
    let json: Record<string, unknown> | undefined;
    let parsed = false;
    for (const [name, sign] of Object.entries(LOG_SIGNS) as [LogSign, (typeof LOG_SIGNS)[LogSign]][]) {
      if (!sign.pattern.test(line)) continue;
      if (!parsed) {
        json = jsonPart(line);
        parsed = true;
      }
      if (name === "leaderElection") {
        // Every member logs the same election; count each term once.
        const term = /at term (\d+)/.exec(line)?.[1] as string;
        if (terms.has(term)) continue;
        terms.add(term);
      }
      const s = signs[name];
      s.count++;
      const t = timeOf(line, json);
      if (t !== undefined) {
        s.first ??= t;
        s.last = t;
      }
      const d = durationOf(line, json);
      if (d !== undefined && Number.isFinite(d)) s.worstMs = Math.max(s.worstMs ?? 0, d);
    }
  }
  return { lines, signs };
}
