import { readShellFile, stepProgram } from "../remote/script";
import { type LatencySummary, type MemberMetrics, provenAbove } from "./metrics";
import type { LogFindings } from "./logs";
import { LOG_SIGNS } from "./logs";
import type { DiskThresholds } from "../disk/thresholds";
import { KARMADA_NAMESPACE, KARMADA_RELEASE } from "../karmada/values";
import { KARMADA_CERTS } from "../karmada/certificates";

/**
 * `unknown`: nothing looked wrong, but nothing showed the disk either (logs only, or metrics without WAL fsync
 * figures); doctor will not call that healthy.
 */
export type Health = "healthy" | "warn" | "fail" | "unknown";
/** What the findings point at. `disk` is the incident's cause; the others need a different fix. */
export type Cause = "disk" | "network-or-cpu";

export interface Finding {
  level: "warn" | "fail";
  /** Whether this finding is evidence about the disk. */
  disk: boolean;
  message: string;
}

export interface Diagnosis {
  health: Health;
  cause?: Cause;
  summary: string;
  findings: Finding[];
}

const ms = (x: number) => `${x.toFixed(x < 10 ? 2 : 1)} ms`;

const DISK_FIX =
  "this is a storage problem, not a configuration problem: raising etcd's heartbeat and election timeouts only moves the threshold. " +
  "Fix the disk: tune the dataset under it (testbed:zfs.profile demo or durable), or move etcd to a faster disk";

/**
 * The verdict on what etcd's metrics and logs say, with the disk named when the disk is the cause. Only WAL fsync
 * figures show that a disk keeps up: etcd logs a slow fdatasync only past one second, so logs alone, or a member
 * without the WAL histogram, or a source in `noMetrics` (a host whose metrics could not be read), leave the disk
 * unjudged, and the verdict says so rather than "healthy" or "the disk keeps up".
 */
export function diagnose(
  members: readonly MemberMetrics[],
  logs: readonly { source: string; findings: LogFindings }[],
  t: DiskThresholds,
  noMetrics: readonly string[] = [],
): Diagnosis {
  const findings: Finding[] = [];
  const add = (level: Finding["level"], disk: boolean, message: string) => findings.push({ level, disk, message });
  for (const m of members) {
    const wal = m.walFsync;
    if (wal !== undefined && wal.count > 0) {
      if (provenAbove(wal, t.failMs))
        add(
          "fail",
          true,
          `${m.member}: WAL fsync p99 ${ms(wal.p99Ms)} is above ${t.failMs} ms (${wal.count} fsyncs): the disk under etcd is too slow`,
        );
      else if (provenAbove(wal, t.warnMs))
        add(
          "warn",
          true,
          `${m.member}: WAL fsync p99 ${ms(wal.p99Ms)} is above ${t.warnMs} ms (etcd's guidance): the disk is slow enough for slow requests under load`,
        );
    }
    // A backend commit is several fdatasyncs (bbolt writes pages, then the meta page), so etcd's 25 ms guidance for
    // it sits near the 10 ms per-fsync limit; judged against the per-fsync limits it would warn on disks the gate
    // passes (5 ms per fdatasync: commit p99 29 ms). The disk verdict rests on WAL fsync, the measure the gate takes;
    // a commit slower than the fail limit is further evidence about the disk.
    const commit = m.backendCommit;
    if (commit !== undefined && commit.count > 0 && provenAbove(commit, t.failMs))
      add(
        "warn",
        true,
        `${m.member}: backend commit p99 ${ms(commit.p99Ms)} is above ${t.failMs} ms (each commit is several fdatasyncs)`,
      );
    if (m.hasLeader === 0) add("fail", false, `${m.member}: has no leader`);
    if ((m.leaderChangesSeen ?? 0) > 1)
      add(
        "warn",
        false,
        `${m.member}: ${m.leaderChangesSeen} leader changes since it started (the first election is one); in the incident every change restarted Karmada's pods`,
      );
    if ((m.heartbeatSendFailures ?? 0) > 0)
      add("warn", false, `${m.member}: ${m.heartbeatSendFailures} heartbeats not sent on time`);
    if ((m.slowApplies ?? 0) > 0)
      add(
        "warn",
        false,
        `${m.member}: ${m.slowApplies} applies took longer than 100 ms (etcd: "likely overloaded from slow disk")`,
      );
  }
  for (const { source, findings: f } of logs) {
    const s = f.signs;
    const when = (c: { first?: string; last?: string }) =>
      c.first === undefined ? "" : c.first === c.last ? `, at ${c.first}` : `, first ${c.first}, last ${c.last}`;
    const worst = (c: { worstMs?: number }) => (c.worstMs === undefined ? "" : `, worst ${ms(c.worstMs)}`);
    if (s.slowFdatasync.count > 0)
      add(
        "fail",
        true,
        `${source}: ${s.slowFdatasync.count} WAL fdatasyncs over 1 s${worst(s.slowFdatasync)}${when(s.slowFdatasync)}: the disk under etcd is too slow`,
      );
    if (s.heartbeatLate.count > 0)
      add(
        "warn",
        false,
        `${source}: ${s.heartbeatLate.count} × ${LOG_SIGNS.heartbeatLate.label}${worst(s.heartbeatLate)}${when(s.heartbeatLate)}`,
      );
    if (s.tookTooLong.count > 0)
      add(
        "warn",
        false,
        `${source}: ${s.tookTooLong.count} × ${LOG_SIGNS.tookTooLong.label}${worst(s.tookTooLong)}${when(s.tookTooLong)}`,
      );
    if (s.leaderElection.count > 1)
      add("warn", false, `${source}: ${s.leaderElection.count} leader elections${when(s.leaderElection)}`);
  }
  const judged = members.filter((m) => m.walFsync !== undefined && m.walFsync.count > 0);
  const unjudged = [...members.filter((m) => !judged.includes(m)).map((m) => m.member), ...noMetrics];
  const notJudged =
    judged.length === 0
      ? `no WAL fsync metrics${logs.length > 0 ? ", and etcd logs a slow fdatasync only past 1 s" : ""}`
      : `no WAL fsync metrics from ${unjudged.join(", ")}`;
  const health: Health = findings.some((f) => f.level === "fail")
    ? "fail"
    : findings.length > 0
      ? "warn"
      : judged.length > 0
        ? "healthy"
        : "unknown";
  const diskEvidence = findings.filter((f) => f.disk);
  const cause: Cause | undefined =
    health === "healthy" || health === "unknown"
      ? undefined
      : diskEvidence.length > 0
        ? "disk"
        : judged.length > 0 && unjudged.length === 0
          ? "network-or-cpu"
          : undefined;
  const worstWal = [...judged].sort(
    (a, b) => (b.walFsync as LatencySummary).p99Ms - (a.walFsync as LatencySummary).p99Ms,
  )[0];
  const walNote = worstWal
    ? ` (worst WAL fsync p99 ${ms((worstWal.walFsync as LatencySummary).p99Ms)} on ${worstWal.member})`
    : "";
  const state = health === "fail" ? "sick" : "at risk";
  let summary: string;
  if (health === "unknown")
    summary =
      `cannot judge: nothing wrong in what was read, but the disk could not be judged (${notJudged}). ` +
      "Point doctor at etcd's metrics (--etcd-metrics URL, or --stack on a host whose etcd serves them), or measure the disk with testbed disk-check";
  else if (health === "healthy")
    summary = `etcd is healthy${walNote}${unjudged.length > 0 ? `; the disk could not be judged on ${unjudged.join(", ")} (no WAL fsync metrics)` : ""}`;
  else if (cause === "disk")
    summary = `etcd is ${state}, and the disk is the cause${walNote}: ${health === "fail" ? DISK_FIX : `watch it (the fail limit is ${t.failMs} ms); ${DISK_FIX}`}`;
  else if (cause === "network-or-cpu")
    summary = `etcd is ${state}, but its disk keeps up${walNote}: look at the network between members and at CPU starvation`;
  else
    summary = `etcd is ${state}, and its disk could not be judged (${notJudged})${walNote}: measure the disk with testbed disk-check, and look at the network between members and at CPU starvation`;
  return { health, cause, summary, findings };
}

function boundLabel(le: number): string {
  if (le === Infinity) return "+Inf";
  const v = le * 1000;
  return v >= 1000 ? `${+(v / 1000).toPrecision(3)} s` : `${+v.toPrecision(3)} ms`;
}

/**
 * A latency histogram for a terminal: one bar per bucket (observations in that bucket, not cumulative), from the first
 * to the last bucket holding any, with the warn and fail limits marked on the buckets beyond them.
 */
export function renderHistogram(title: string, h: LatencySummary, t: DiskThresholds, width = 40): string {
  const rows = h.buckets.map((b, i) => ({ le: b.le, n: b.count - (i > 0 ? h.buckets[i - 1].count : 0) }));
  const used = rows.map((r, i) => (r.n > 0 ? i : -1)).filter((i) => i >= 0);
  if (used.length === 0) return `${title}: no observations yet\n`;
  const shown = rows.slice(Math.max(0, used[0] - 1), used[used.length - 1] + 1);
  const peak = Math.max(...shown.map((r) => r.n));
  const labels = shown.map((r, i) =>
    r.le === Infinity ? `> ${boundLabel(i > 0 ? shown[i - 1].le : r.le)}` : `≤ ${boundLabel(r.le)}`,
  );
  const labelWidth = Math.max(...labels.map((l) => l.length));
  const lines = [`${title} (${h.count} observations, p50 ${ms(h.p50Ms)}, p99 ${ms(h.p99Ms)})`];
  shown.forEach((r, i) => {
    const bar = "█".repeat(r.n === 0 ? 0 : Math.max(1, Math.round((r.n / peak) * width)));
    // A bucket is beyond a limit when its lower bound is: every observation in it is.
    const lowerMs = i > 0 ? shown[i - 1].le * 1000 : 0;
    const mark = lowerMs >= t.failMs ? "  ✗ above fail limit" : lowerMs >= t.warnMs ? "  ! above warn limit" : "";
    lines.push(
      `  ${labels[i].padStart(labelWidth)} │${bar.padEnd(width)} ${String(r.n).padStart(6)}${r.n > 0 ? mark : ""}`,
    );
  });
  return `${lines.join("\n")}\n`;
}

/** k3s' embedded etcd serves its metrics here (its `listen-metrics-urls` default). */
export const K3S_ETCD_METRICS_URL = "http://127.0.0.1:2381/metrics";

/**
 * Where Karmada's internal etcd serves its metrics, by chart 1.13.0 (karmada-io/karmada ecc12b4c,
 * charts/karmada/templates/etcd.yaml): no --listen-metrics-urls, so /metrics is on the client URL, https on 2379 with
 * client-cert-auth (lines 66-68, 87-98); the pods are labelled app=etcd (karmada.etcd.labels, _helpers.tpl:38-46,
 * with the testbed's values setting no etcd.labels); the certificate and key the chart's own clients present, and
 * the CA, are the Secret <release>-cert (lines 105-108; pre-install-job.yaml writes server-ca.crt, karmada.crt,
 * karmada.key); the server certificate covers *.<namespace>.svc.cluster.local (values.yaml certs.auto.hosts, which
 * the testbed keeps), so the pod is addressed as the Service etcd-client (lines 127-141) resolved to its IP.
 */
export const KARMADA_ETCD = {
  namespace: KARMADA_NAMESPACE,
  selector: "app=etcd",
  certSecret: `${KARMADA_RELEASE}-cert`,
  host: `etcd-client.${KARMADA_NAMESPACE}.svc.cluster.local`,
  port: 2379,
} as const;

/** The lines of a log that doctor reads (filtered on the host, so a week of journal stays small on the wire). */
export const LOG_GREP = "took too long|heartbeat on time|slow fdatasync|sync duration of|elected leader";

/**
 * The program doctor runs on an etcd-bearing host (probe.sh): the etcd metrics page at `metricsUrl`, the last
 * `since` of k3s' journal (its embedded etcd logs there), and, where `karmada` is set and the host runs Karmada's
 * host cluster, the Karmada etcd pods' logs and metrics pages (KARMADA_ETCD) and Karmada's certificates
 * (KARMADA_CERTS, public ones only). Sections start with `TESTBED section <name>`; what is missing is said on
 * a `TESTBED unavailable <name>: <why>` line, never by failing. Every value enters through the program's header,
 * quoted by `shq`; the body is constant text.
 */
export function etcdProbeScript(opts: {
  metricsUrl: string;
  since: string;
  karmada?: boolean;
  /** Karmada's etcd client port. Defaults to KARMADA_ETCD.port (the chart's). */
  karmadaEtcdPort?: number;
}): string {
  return stepProgram("doctor/etcd-probe", {
    values: {
      url: opts.metricsUrl,
      since: opts.since,
      log_grep: LOG_GREP,
      karmada: opts.karmada ?? false,
      karmada_namespace: KARMADA_ETCD.namespace,
      karmada_etcd_selector: KARMADA_ETCD.selector,
      karmada_cert_secret: KARMADA_ETCD.certSecret,
      karmada_etcd_host: KARMADA_ETCD.host,
      karmada_etcd_port: opts.karmadaEtcdPort ?? KARMADA_ETCD.port,
      karmada_cert_keys: KARMADA_CERTS.map((c) => c.key),
    },
    body: readShellFile(__dirname, "probe.sh"),
  });
}

/** The sections of the probe's output, and what it said was unavailable. */
export function parseProbeOutput(stdout: string): { sections: Record<string, string>; unavailable: string[] } {
  const sections: Record<string, string> = {};
  const unavailable: string[] = [];
  let current: string | undefined;
  for (const line of stdout.split("\n")) {
    const section = /^TESTBED section (\S+)$/.exec(line);
    if (section) {
      current = section[1];
      sections[current] = "";
      continue;
    }
    const missing = /^TESTBED unavailable (.*)$/.exec(line);
    if (missing) {
      unavailable.push(missing[1]);
      continue;
    }
    if (current !== undefined) sections[current] += `${line}\n`;
  }
  return { sections, unavailable };
}
