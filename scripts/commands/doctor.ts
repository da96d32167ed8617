import * as fs from "node:fs";
import type { Command } from "commander";
import { limitsOf, numberOption, wholeNumberOption } from "../lib/options";
import { CliError, EXIT, finish } from "../cli";
import {
  type Diagnosis,
  K3S_ETCD_METRICS_URL,
  diagnose,
  etcdProbeScript,
  parseProbeOutput,
  renderHistogram,
} from "../../components/etcd/doctor";
import { type LogFindings, LOG_SIGNS, type LogSign, analyzeEtcdLogs } from "../../components/etcd/logs";
import { type MemberMetrics, MetricsError, type Unreadable, readEtcdMetrics } from "../../components/etcd/metrics";
import { DEFAULT_FAIL_P99_MS, DEFAULT_WARN_P99_MS, type DiskThresholds } from "../../components/disk/thresholds";
import { loadStackSpec, remoteRunner } from "../lib/hosts";
import { type StackOptions, withStackOptions } from "../lib/stackArgs";
import { type CertificateVerdict, judgeCertificates, renderCertificates } from "../../components/karmada/certificates";

export interface DoctorReport extends Diagnosis {
  thresholds: DiskThresholds;
  members: MemberMetrics[];
  logs: { source: string; findings: LogFindings }[];
  /** Sources that could not be read, and why (a host without etcd metrics, a journal without k3s). */
  unavailable: string[];
  /** Karmada's certificates and how long they have left, when a Karmada host was probed. */
  certificates?: CertificateVerdict;
  seconds: number;
}

/** A certificate as the probe read it: the host, the Secret's key, the PEM text. */
export interface CertificateText {
  host: string;
  key: string;
  text: string;
}

/** How long a metrics page may take, headers and body together. Defaults to 10 s, as the probe's curl waits. */
export const PAGE_TIMEOUT_S = 10;
/** The longest --timeout: an hour (Node's timers stop at 2^32-1 ms, about 49 days; a longer wait is a mistake). */
const MAX_TIMEOUT_S = 3600;
/** A metrics page larger than this is not an etcd page (etcd's is about 150 KiB; a 1,000-member federation 6 MiB). */
const PAGE_MAX_BYTES = 256 * 1024 * 1024;

/**
 * Reads a metrics page from a URL (http, https) or a file. The timeout covers the body too: a server that sends its
 * headers and then stalls must not hold doctor forever, nor end it with a stack trace.
 */
export async function readPage(source: string, timeoutS = PAGE_TIMEOUT_S): Promise<string> {
  if (/^https?:\/\//i.test(source)) {
    const signal = AbortSignal.timeout(timeoutS * 1000);
    const failed = (err: unknown, what: string) => {
      if (signal.aborted) return new CliError(`${source}: no complete answer within ${timeoutS} s (${what})`);
      const cause = (err as { cause?: Error }).cause;
      return new CliError(`${source}: cannot fetch: ${cause?.message ?? (err as Error).message}`);
    };
    let res: Response;
    try {
      res = await fetch(source, { signal });
    } catch (err) {
      throw failed(err, "no response headers");
    }
    if (!res.ok) {
      await res.body?.cancel().catch(() => undefined);
      throw new CliError(`${source}: HTTP ${res.status} ${res.statusText}`);
    }
    const chunks: Uint8Array[] = [];
    let bytes = 0;
    try {
      for await (const chunk of res.body ?? []) {
        bytes += chunk.length;
        if (bytes > PAGE_MAX_BYTES) {
          await res.body?.cancel().catch(() => undefined);
          throw new CliError(
            `${source}: the page is larger than ${PAGE_MAX_BYTES / 1024 / 1024} MiB: not an etcd metrics page`,
          );
        }
        chunks.push(chunk);
      }
    } catch (err) {
      if (err instanceof CliError) throw err;
      throw failed(err, `the body stopped after ${bytes} bytes`);
    }
    return Buffer.concat(chunks).toString("utf8");
  }
  try {
    return fs.readFileSync(source === "-" ? 0 : source, "utf8");
  } catch (err) {
    throw new CliError(`${source}: cannot read: ${(err as Error).message}`);
  }
}

/** The probe's sections holding a Karmada etcd pod's metrics page are named this, then the pod's name. */
const KARMADA_METRICS_SECTION = "karmada-etcd-metrics-";
/** The probe's sections holding one of Karmada's certificates are named this, then the Secret's key. */
const KARMADA_CERT_SECTION = "karmada-cert-";

/**
 * What one host's probe output gives doctor: its metrics pages (k3s' etcd, and on the Karmada host each Karmada
 * etcd pod's), its logs, what it could not read, and which etcds had no metrics page (their disk is not judged).
 */
export function readProbe(
  host: string,
  stdout: string,
  metricsUrl: string,
): {
  pages: { source: string; text: string }[];
  logs: { source: string; text: string }[];
  unavailable: string[];
  noMetrics: string[];
  certificates: CertificateText[];
} {
  const { sections, unavailable: missing } = parseProbeOutput(stdout);
  const lacks = (section: string) => missing.some((m) => m.startsWith(`${section}:`));
  // A page curl gave up on half-way (it timed out, the connection broke) is not read: its cut series would only
  // say "cannot judge", where the truth is that this host's metrics could not be read.
  const k3sPages = sections.metrics?.trim() && !lacks("metrics") ? [{ source: host, text: sections.metrics }] : [];
  const karmadaExpected = sections["karmada-etcd"] !== undefined;
  const karmadaPages = Object.entries(sections)
    .filter(([name, text]) => name.startsWith(KARMADA_METRICS_SECTION) && text.trim() !== "" && !lacks(name))
    .map(([name, text]) => ({ source: `${host} karmada ${name.slice(KARMADA_METRICS_SECTION.length)}`, text }));
  return {
    pages: [...k3sPages, ...karmadaPages],
    logs: [
      ...(lacks("journal") ? [] : [{ source: `${host} k3s journal`, text: sections.journal ?? "" }]),
      ...(karmadaExpected && !lacks("karmada-etcd")
        ? [{ source: `${host} karmada etcd`, text: sections["karmada-etcd"] }]
        : []),
    ],
    unavailable: missing.map((m) => `${host}: ${m.replace("the metrics URL", metricsUrl)}`),
    noMetrics: [
      ...(k3sPages.length === 0 ? [host] : []),
      ...(karmadaExpected && karmadaPages.length === 0 ? [`${host} karmada etcd`] : []),
    ],
    certificates: Object.entries(sections)
      .filter(([name, text]) => name.startsWith(KARMADA_CERT_SECTION) && text.trim() !== "")
      .map(([name, text]) => ({ host, key: name.slice(KARMADA_CERT_SECTION.length), text })),
  };
}

/** What doctor reads over the stack's connections: each cluster server (the Karmada host is one). */
export async function probeStack(opts: StackOptions & { host?: string; since: string; metricsUrl: string }): Promise<{
  pages: { source: string; text: string }[];
  logs: { source: string; text: string }[];
  unavailable: string[];
  /** Hosts whose etcd metrics could not be read: their disk is not judged. */
  noMetrics: string[];
  /** Karmada's certificates, read on its host. */
  certificates: CertificateText[];
  thresholds: DiskThresholds;
}> {
  const spec = loadStackSpec(opts);
  const karmadaServer = spec.karmada ? spec.clusters[spec.karmada.cluster]?.server : undefined;
  const servers = [...new Set(Object.values(spec.clusters).map((c) => c.server))];
  if (opts.host !== undefined && !servers.includes(opts.host))
    throw new CliError(
      `--host ${opts.host} runs no etcd in this stack (the etcd-bearing hosts are the cluster servers: ${servers.join(", ")})`,
    );
  const targets = opts.host !== undefined ? [opts.host] : servers;
  const pages: { source: string; text: string }[] = [];
  const logs: { source: string; text: string }[] = [];
  const unavailable: string[] = [];
  const noMetrics: string[] = [];
  const certificates: CertificateText[] = [];
  await Promise.all(
    targets.map(async (host) => {
      let out: string;
      try {
        const run = await remoteRunner(spec, host);
        const r = await run(
          etcdProbeScript({ metricsUrl: opts.metricsUrl, since: opts.since, karmada: host === karmadaServer }),
        );
        if (r.code !== 0) throw new Error(r.stderr.trim().split("\n").pop() ?? `exit ${r.code}`);
        out = r.stdout;
      } catch (err) {
        throw err instanceof CliError ? err : new CliError(`host ${host}: ${(err as Error).message}`);
      }
      const read = readProbe(host, out, opts.metricsUrl);
      pages.push(...read.pages);
      logs.push(...read.logs);
      unavailable.push(...read.unavailable);
      noMetrics.push(...read.noMetrics);
      certificates.push(...read.certificates);
    }),
  );
  return {
    pages,
    logs,
    unavailable,
    noMetrics,
    certificates,
    thresholds: { warnMs: spec.diskGate.warnMs, failMs: spec.diskGate.failMs },
  };
}

/** At most this many unreadable series are listed; the rest are counted. */
const UNREADABLE_SHOWN = 20;

/**
 * Runs doctor over pages and logs already read. `unavailable` lists what could not be read, `noMetrics` the sources
 * (hosts) whose metrics could not be read. Unreadable series give no verdict: a CliError (exit 2) names each one.
 */
export function examine(
  pages: { source: string; text: string }[],
  logTexts: { source: string; text: string }[],
  thresholds: DiskThresholds,
  opts: {
    unavailable?: string[];
    noMetrics?: string[];
    started?: number;
    /** Karmada's certificates as read, judged at `now` (default: this moment). */
    certificates?: CertificateText[];
    now?: Date;
  } = {},
): DoctorReport {
  const started = opts.started ?? Date.now();
  const members: MemberMetrics[] = [];
  const unreadable: Unreadable[] = [];
  for (const p of pages) {
    try {
      members.push(...readEtcdMetrics(p.text, p.source));
    } catch (err) {
      if (!(err instanceof MetricsError)) throw err;
      if (err.unreadable.length === 0) throw new CliError(err.message);
      unreadable.push(...err.unreadable);
    }
  }
  if (unreadable.length > 0) {
    const shown = unreadable.slice(0, UNREADABLE_SHOWN).map((u) => `  ${u.member}: ${u.series}: ${u.why}`);
    if (unreadable.length > UNREADABLE_SHOWN) shown.push(`  and ${unreadable.length - UNREADABLE_SHOWN} more`);
    throw new CliError(
      `cannot judge etcd's health: ${unreadable.length === 1 ? "a series" : `${unreadable.length} series`} cannot be read, and a verdict on them would be a guess\n${shown.join("\n")}`,
    );
  }
  const logs = logTexts.map((l) => ({ source: l.source, findings: analyzeEtcdLogs(l.text) }));
  const certificates =
    opts.certificates !== undefined && opts.certificates.length > 0
      ? judgeCertificates(opts.certificates, opts.now)
      : undefined;
  return {
    ...diagnose(members, logs, thresholds, opts.noMetrics ?? []),
    thresholds,
    members,
    logs,
    unavailable: [...(opts.unavailable ?? []), ...(certificates?.unreadable ?? [])],
    ...(certificates === undefined ? {} : { certificates }),
    seconds: (Date.now() - started) / 1000,
  };
}

/**
 * doctor's exit code: 1 for a verdict (etcd at risk or sick, or a certificate expired or expiring: a proven problem
 * outranks what could not be judged), 2 when etcd could not be judged and nothing else is wrong, 0 when all is well.
 */
export function doctorExitCode(r: DoctorReport): number {
  if (r.health === "warn" || r.health === "fail") return EXIT.verdict;
  if (r.certificates !== undefined && r.certificates.health !== "healthy") return EXIT.verdict;
  return r.health === "unknown" ? EXIT.badInput : EXIT.ok;
}

const fmt = (x: number | undefined) => (x === undefined || Number.isNaN(x) ? "-" : `${x.toFixed(x < 10 ? 2 : 1)} ms`);

/** What a person reads: members (the worst first when there are many), histogram, log signs, verdict. */
export function renderDoctor(r: DoctorReport, maxMembers = 10): string {
  const out: string[] = [];
  const byWorst = [...r.members].sort((a, b) => (b.walFsync?.p99Ms ?? -1) - (a.walFsync?.p99Ms ?? -1));
  if (r.members.length > 0) {
    out.push(
      r.members.length > maxMembers
        ? `etcd members: ${r.members.length} (the ${maxMembers} with the slowest WAL fsync shown)`
        : `etcd members: ${r.members.length}`,
    );
    for (const m of byWorst.slice(0, maxMembers)) {
      out.push(`  ${m.member}`);
      out.push(
        `    WAL fsync       p50 ${fmt(m.walFsync?.p50Ms).padStart(9)}  p99 ${fmt(m.walFsync?.p99Ms).padStart(9)}  (${m.walFsync?.count ?? 0} fsyncs)`,
      );
      out.push(
        `    backend commit  p50 ${fmt(m.backendCommit?.p50Ms).padStart(9)}  p99 ${fmt(m.backendCommit?.p99Ms).padStart(9)}  (${m.backendCommit?.count ?? 0} commits)`,
      );
      out.push(
        `    leader changes ${m.leaderChangesSeen ?? "-"} · heartbeat send failures ${m.heartbeatSendFailures ?? "-"} · slow applies ${m.slowApplies ?? "-"} · slow read indexes ${m.slowReadIndexes ?? "-"}`,
      );
    }
    const worst = byWorst[0];
    if (worst?.walFsync !== undefined)
      out.push("", renderHistogram(`WAL fsync latency of ${worst.member}`, worst.walFsync, r.thresholds).trimEnd());
  }
  for (const l of r.logs) {
    out.push("", `log ${l.source} (${l.findings.lines} lines read)`);
    for (const [sign, s] of Object.entries(l.findings.signs) as [LogSign, LogFindings["signs"][LogSign]][]) {
      const when = s.first === undefined ? "" : s.first === s.last ? `  at ${s.first}` : `  ${s.first} .. ${s.last}`;
      const worst = s.worstMs === undefined ? "" : `  worst ${fmt(s.worstMs)}`;
      out.push(`  ${LOG_SIGNS[sign].label.padEnd(40)} ${String(s.count).padStart(6)}${worst}${when}`);
    }
  }
  if (r.certificates !== undefined && r.certificates.certificates.length > 0)
    out.push("", "Karmada's certificates:", ...renderCertificates(r.certificates.certificates));
  if (r.unavailable.length > 0) out.push("", "not read:", ...r.unavailable.map((u) => `  ${u}`));
  out.push("", `verdict: ${r.health}${r.cause ? ` (${r.cause})` : ""}: ${r.summary}`);
  for (const f of r.findings) out.push(`  ${f.level === "fail" ? "✗" : "!"} ${f.message}`);
  if (r.certificates !== undefined && r.certificates.health !== "healthy") {
    out.push(`certificates: ${r.certificates.health}`);
    for (const f of r.certificates.findings) out.push(`  ${f.level === "fail" ? "✗" : "!"} ${f.message}`);
  }
  return `${out.join("\n").replace(/^\n/, "")}\n`;
}

const EXIT_HELP = `
Exit codes:
  0  healthy: WAL fsync figures show the disk keeps up, and nothing else is wrong
  1  a verdict: etcd is at risk or sick; the summary names the disk when it is
     the cause, or says the disk could not be judged (logs only); or, with
     --stack, one of Karmada's certificates expired or expires within 30 days
  2  bad input, an unreachable host, or cannot judge: a metrics series that
     cannot be read (no +Inf bucket, NaN, negative or falling counts, no
     observations), or nothing wrong in what was read but no WAL fsync metrics
     to judge the disk by (logs only: etcd logs a slow fdatasync only past 1 s)
`;

export function register(program: Command): void {
  withStackOptions(
    program
      .command("doctor")
      .description(
        "etcd's health from its metrics and logs: fsync and commit latency, elections, heartbeats; names the disk when it is the cause",
      )
      .option("--etcd-metrics <url...>", "etcd /metrics pages (http(s) URLs or saved files)")
      .option("--logs <file...>", "etcd logs to read (files, or - for standard input): journal, pod log, etcd's own")
      .option("--host <name>", "with --stack: only this cluster server")
      .option("--since <duration>", "with --stack: how much of the logs to read", "1h")
      .option("--metrics-url <url>", "with --stack: where etcd serves metrics on the host", K3S_ETCD_METRICS_URL)
      .option("--warn-ms <n>", `fsync p99 above this warns (default ${DEFAULT_WARN_P99_MS}, or the stack's)`)
      .option("--fail-ms <n>", `fsync p99 above this fails (default ${DEFAULT_FAIL_P99_MS}, or the stack's)`)
      .option("--max-members <n>", "members listed in the table (the slowest first)", "10")
      .option("--timeout <s>", "seconds to wait for each --etcd-metrics URL, body included", String(PAGE_TIMEOUT_S))
      .option("--json", "print one JSON object")
      .addHelpText("after", EXIT_HELP),
  ).action(
    async (
      opts: StackOptions & {
        etcdMetrics?: string[];
        logs?: string[];
        host?: string;
        since: string;
        metricsUrl: string;
        warnMs?: string;
        failMs?: string;
        maxMembers: string;
        timeout: string;
        json?: boolean;
      },
    ) => {
      const started = Date.now();
      const stackGiven = opts.stack !== undefined || opts.file !== undefined;
      if (!stackGiven && !opts.etcdMetrics && !opts.logs)
        throw new CliError("say where etcd is: --stack NAME, --etcd-metrics URL..., or --logs FILE");
      if (opts.host !== undefined && !stackGiven) throw new CliError("--host needs --stack NAME or --file PATH");
      const warnMs = numberOption("--warn-ms", opts.warnMs);
      const failMs = numberOption("--fail-ms", opts.failMs);
      const maxMembers = wholeNumberOption("--max-members", opts.maxMembers);
      const timeoutS = numberOption("--timeout", opts.timeout) as number;
      if (timeoutS > MAX_TIMEOUT_S) throw new CliError(`--timeout: ${timeoutS} s is more than ${MAX_TIMEOUT_S} s`);
      // One duration both journalctl (--since -1h) and kubectl logs (--since=1h) understand.
      if (!/^\d+[smh]$/.test(opts.since))
        throw new CliError(`--since: ${JSON.stringify(opts.since)} is not a duration like 30m, 1h or 90s`);
      if (!/^https?:\/\/[^\s]+$/i.test(opts.metricsUrl) || !URL.canParse(opts.metricsUrl))
        throw new CliError(`--metrics-url: ${JSON.stringify(opts.metricsUrl)} is not an http(s) URL`);
      if ((opts.logs ?? []).filter((l) => l === "-").length > 1)
        throw new CliError("--logs: - (standard input) at most once");
      // Checked before any host is contacted; against the stack's limits again once they are known.
      let thresholds: DiskThresholds = { warnMs: DEFAULT_WARN_P99_MS, failMs: DEFAULT_FAIL_P99_MS };
      limitsOf({ warnMs, failMs }, thresholds);
      const pages: { source: string; text: string }[] = [];
      const logs: { source: string; text: string }[] = [];
      const unavailable: string[] = [];
      const noMetrics: string[] = [];
      const certificates: CertificateText[] = [];
      if (stackGiven) {
        const probed = await probeStack({ ...opts });
        pages.push(...probed.pages);
        logs.push(...probed.logs);
        unavailable.push(...probed.unavailable);
        noMetrics.push(...probed.noMetrics);
        certificates.push(...probed.certificates);
        thresholds = probed.thresholds;
      }
      for (const source of opts.etcdMetrics ?? []) pages.push({ source, text: await readPage(source, timeoutS) });
      for (const source of opts.logs ?? [])
        logs.push({ source: source === "-" ? "stdin" : source, text: await readPage(source, timeoutS) });
      if (pages.length === 0 && logs.length === 0)
        throw new CliError(`no etcd to examine: ${unavailable.join("; ") || "no sources"}`);
      thresholds = limitsOf({ warnMs, failMs }, thresholds);
      const report = examine(pages, logs, thresholds, { unavailable, noMetrics, started, certificates });
      // JSON has no infinity: the +Inf bucket's bound is written as Prometheus writes it.
      const json = () => JSON.stringify(report, (_k, v: unknown) => (v === Infinity ? "+Inf" : v), 2);
      process.stdout.write(opts.json ? `${json()}\n` : renderDoctor(report, maxMembers));
      finish(doctorExitCode(report));
    },
  );
}
