import parsePrometheusTextFormat from "parse-prometheus-text-format";

/** One cumulative bucket of a Prometheus histogram: observations <= `le` (seconds for etcd's histograms). */
export interface Bucket {
  le: number;
  count: number;
}

/**
 * The q-quantile of a classic Prometheus histogram, computed exactly as PromQL's `histogram_quantile` does
 * (prometheus/promql/quantile.go, bucketQuantile): linear interpolation inside the bucket holding rank q*count,
 * the lower bound of the first bucket taken as 0 unless that bucket's upper bound is <= 0, and a quantile that falls
 * into the +Inf bucket reported as the upper bound of the last finite bucket. NaN without a +Inf bucket, with fewer
 * than two buckets, or with no observations; -Inf/+Inf for q below 0/above 1.
 */
export function histogramQuantile(q: number, input: readonly Bucket[]): number {
  if (Number.isNaN(q)) return NaN;
  if (q < 0) return -Infinity;
  if (q > 1) return Infinity;
  const buckets = [...input].sort((a, b) => a.le - b.le);
  if (buckets.length < 2 || buckets[buckets.length - 1].le !== Infinity) return NaN;
  // Scrapes are not atomic: a bucket may read lower than the one before it. Prometheus forces monotonicity.
  let max = -Infinity;
  const counts = buckets.map((b) => (max = Math.max(max, b.count)));
  const observations = counts[counts.length - 1];
  if (observations === 0) return NaN;
  let rank = q * observations;
  let b = counts.findIndex((c, i) => i < counts.length - 1 && c >= rank);
  if (b === -1) b = counts.length - 1;
  if (b === counts.length - 1) return buckets[buckets.length - 2].le;
  if (b === 0 && buckets[0].le <= 0) return buckets[0].le;
  let start = 0;
  let count = counts[b];
  if (b > 0) {
    start = buckets[b - 1].le;
    count -= counts[b - 1];
    rank -= counts[b - 1];
  }
  return start + (buckets[b].le - start) * (rank / count);
}

/** A latency histogram of one etcd member, in milliseconds. */
export interface LatencySummary {
  /** Number of observations (fsyncs, commits). */
  count: number;
  p50Ms: number;
  p99Ms: number;
  /** The mean, from _sum/_count. */
  meanMs: number;
  /** Cumulative buckets in seconds, as exposed, for drawing. */
  buckets: Bucket[];
}

/**
 * Whether the histogram proves its p99 is above `limitMs`: more than 1% of the observations lie beyond the first
 * bucket that reaches the limit (in buckets whose lower bound is at or above it). The interpolated p99 cannot decide this when the limit lies inside the p99's
 * bucket: etcd's buckets double (8 ms, 16 ms), so a true p99 of 8.5 ms and one of 15 ms read alike. Without buckets,
 * the interpolated p99 decides.
 */
export function provenAbove(h: LatencySummary, limitMs: number): boolean {
  if (h.buckets.length === 0) return h.p99Ms > limitMs;
  const total = h.buckets[h.buckets.length - 1].count;
  const reaching = h.buckets.find((b) => b.le * 1000 >= limitMs);
  return total > 0 && (total - (reaching?.count ?? total)) / total > 0.01;
}

/** What doctor reads from one etcd member's metrics. */
export interface MemberMetrics {
  /** Which member: the source (a URL, a host) plus any labels that tell members apart on one page. */
  member: string;
  walFsync?: LatencySummary;
  backendCommit?: LatencySummary;
  leaderChangesSeen?: number;
  heartbeatSendFailures?: number;
  slowApplies?: number;
  slowReadIndexes?: number;
  hasLeader?: number;
}

const HISTOGRAM_FIELDS = ["walFsync", "backendCommit"] as const;
type HistogramField = (typeof HISTOGRAM_FIELDS)[number];
type CounterField = Exclude<keyof typeof ETCD_METRICS, HistogramField>;

export const ETCD_METRICS = {
  walFsync: "etcd_disk_wal_fsync_duration_seconds",
  backendCommit: "etcd_disk_backend_commit_duration_seconds",
  leaderChangesSeen: "etcd_server_leader_changes_seen_total",
  heartbeatSendFailures: "etcd_server_heartbeat_send_failures_total",
  slowApplies: "etcd_server_slow_apply_total",
  slowReadIndexes: "etcd_server_slow_read_indexes_total",
  hasLeader: "etcd_server_has_leader",
} as const;

/** A series doctor cannot read: which member, which series, and what is wrong with it. */
export interface Unreadable {
  member: string;
  series: string;
  why: string;
}

/**
 * Raised when a page is not Prometheus text, holds no etcd metrics, or holds etcd series that cannot be read
 * (`unreadable`): a verdict on such data would be a guess.
 */
export class MetricsError extends Error {
  override name = "MetricsError";
  constructor(
    message: string,
    readonly unreadable: Unreadable[] = [],
  ) {
    super(message);
  }
}

function memberKey(source: string, labels: Record<string, string> | undefined): string {
  const rest = Object.entries(labels ?? {})
    .filter(([k]) => k !== "le")
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}="${v}"`);
  return rest.length === 0 ? source : `${source}{${rest.join(",")}}`;
}

/**
 * A sample value or `le` bound as the text format writes it (Go's strconv 'g' format, `NaN`, `+Inf`, `-Inf`), NaN
 * for anything else. parse-prometheus-text-format hands values over as strings and lets through an empty one (a
 * line cut after its labels), which `Number` would read as 0.
 */
export function sampleValue(text: string): number {
  if (/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) return Number(text);
  if (text === "+Inf" || text === "Inf") return Infinity;
  if (text === "-Inf") return -Infinity;
  return NaN;
}

const show = (le: number) => (le === Infinity ? "+Inf" : String(le));

/**
 * What is wrong with a histogram's samples, if anything. Each of these made doctor say "healthy" on data that proves
 * nothing (a p99 of NaN, or of 16 ms from a NaN bucket where the buckets around it put it at 8 ms at most).
 */
function histogramFault(
  buckets: readonly Bucket[],
  count: number | undefined,
  sum: number | undefined,
): string | undefined {
  if (buckets.length === 0) return "no buckets, only _sum or _count";
  const bad = buckets.find((b) => Number.isNaN(b.le));
  if (bad !== undefined) return "a bucket whose le is not a number";
  const sorted = [...buckets].sort((a, b) => a.le - b.le);
  for (let i = 1; i < sorted.length; i++)
    if (sorted[i].le === sorted[i - 1].le) return `two buckets with le="${show(sorted[i].le)}"`;
  for (const b of sorted) {
    if (!Number.isFinite(b.count)) return `bucket le="${show(b.le)}" reads ${b.count}`;
    if (b.count < 0) return `bucket le="${show(b.le)}" reads a negative count (${b.count})`;
  }
  if (sorted[sorted.length - 1].le !== Infinity) return `no le="+Inf" bucket, so no total to rank against`;
  if (sorted.length < 2) return `only the le="+Inf" bucket: no latency bounds`;
  // Buckets are cumulative. client_golang fills them from one snapshot, and Prometheus' federation passes them on as
  // scraped, so a count below the one before it is a damaged page, not a race to smooth over.
  for (let i = 1; i < sorted.length; i++)
    if (sorted[i].count < sorted[i - 1].count)
      return `cumulative buckets fall from ${sorted[i - 1].count} (le="${show(sorted[i - 1].le)}") to ${sorted[i].count} (le="${show(sorted[i].le)}")`;
  const total = sorted[sorted.length - 1].count;
  // prometheus/common expfmt/text_create.go (MetricFamilyToText) writes the +Inf bucket and _count from the same
  // GetSampleCount(): they differ only on a damaged page.
  if (count !== undefined && count !== total) return `_count ${count} differs from the +Inf bucket's ${total}`;
  if (sum !== undefined && !(Number.isFinite(sum) && sum >= 0)) return `_sum reads ${sum}`;
  if (total === 0) return "no observations yet (zero samples)";
  return undefined;
}

function summarize(buckets: Bucket[], count: number, sum: number | undefined): LatencySummary {
  return {
    count,
    p50Ms: histogramQuantile(0.5, buckets) * 1000,
    p99Ms: histogramQuantile(0.99, buckets) * 1000,
    meanMs: sum !== undefined && count > 0 ? (sum / count) * 1000 : NaN,
    buckets: [...buckets].sort((a, b) => a.le - b.le),
  };
}

/**
 * The etcd health figures on a Prometheus text page (an etcd /metrics endpoint, or a federation page holding many
 * members told apart by labels), one entry per member. Parsed with parse-prometheus-text-format. Throws a
 * MetricsError naming every member and series it cannot read (see `histogramFault`; a counter that is not a
 * non-negative number): doctor gives no verdict on them.
 */
export function readEtcdMetrics(text: string, source: string): MemberMetrics[] {
  // parse-prometheus-text-format folds every series of a histogram family into one (it keeps the last series'
  // buckets and drops their labels), which would merge the members of a federation page. Declared untyped, each
  // `_bucket`, `_sum` and `_count` sample comes back on its own with its labels, and the buckets are grouped here.
  const untyped = text.replace(/^# TYPE (\S+) histogram[ \t]*$/gm, "# TYPE $1 untyped");
  let families: ReturnType<typeof parsePrometheusTextFormat>;
  try {
    families = parsePrometheusTextFormat(untyped);
  } catch (err) {
    throw new MetricsError(`${source}: not Prometheus text format: ${(err as Error).message}`);
  }
  const members = new Map<string, MemberMetrics>();
  const of = (labels: Record<string, string> | undefined) => {
    const key = memberKey(source, labels);
    let m = members.get(key);
    if (m === undefined) members.set(key, (m = { member: key }));
    return m;
  };
  const histograms = new Map<string, HistogramField>(HISTOGRAM_FIELDS.map((f) => [ETCD_METRICS[f], f]));
  const counters = new Map<string, CounterField>(
    (Object.keys(ETCD_METRICS) as (keyof typeof ETCD_METRICS)[])
      .filter((f): f is CounterField => !(HISTOGRAM_FIELDS as readonly string[]).includes(f))
      .map((f) => [ETCD_METRICS[f], f]),
  );
  type Partial = { buckets: Bucket[]; count?: number; sum?: number };
  const partial = new Map<MemberMetrics, Map<HistogramField, Partial>>();
  const histogramOf = (m: MemberMetrics, field: HistogramField) => {
    let byField = partial.get(m);
    if (byField === undefined) partial.set(m, (byField = new Map()));
    let h = byField.get(field);
    if (h === undefined) byField.set(field, (h = { buckets: [] }));
    return h;
  };
  const unreadable: Unreadable[] = [];
  for (const family of families) {
    const suffix = /_(bucket|sum|count)$/.exec(family.name);
    const histogram = suffix ? histograms.get(family.name.slice(0, suffix.index)) : undefined;
    const counter = counters.get(family.name);
    if (histogram === undefined && counter === undefined) continue;
    for (const metric of family.metrics) {
      if (!("value" in metric)) continue;
      const m = of(metric.labels);
      const value = sampleValue(metric.value);
      if (histogram === undefined) {
        const field = counter as CounterField;
        if (Number.isFinite(value) && value >= 0) m[field] = value;
        else
          unreadable.push({
            member: m.member,
            series: ETCD_METRICS[field],
            why: `reads ${JSON.stringify(metric.value)}, not a count`,
          });
        continue;
      }
      const h = histogramOf(m, histogram);
      if (suffix?.[1] === "bucket") {
        const le = metric.labels?.le;
        if (le !== undefined) h.buckets.push({ le: sampleValue(le), count: value });
      } else if (suffix?.[1] === "sum") h.sum = value;
      else h.count = value;
    }
  }
  for (const [m, byField] of partial)
    for (const [field, h] of byField) {
      const fault = histogramFault(h.buckets, h.count, h.sum);
      if (fault === undefined)
        m[field] = summarize(
          h.buckets,
          h.buckets.reduce((a, b) => Math.max(a, b.count), 0),
          h.sum,
        );
      else unreadable.push({ member: m.member, series: ETCD_METRICS[field], why: fault });
    }
  if (members.size === 0)
    throw new MetricsError(
      `${source}: no etcd metrics on this page (looked for ${ETCD_METRICS.walFsync} and ${ETCD_METRICS.leaderChangesSeen})`,
    );
  if (unreadable.length > 0)
    throw new MetricsError(
      `${source}: cannot judge: ${unreadable.length} etcd series cannot be read\n${unreadable.map((u) => `  ${u.member}: ${u.series}: ${u.why}`).join("\n")}`,
      unreadable,
    );
  return [...members.values()];
}
