import * as fs from "node:fs";
import type { Command } from "commander";
import { CliError, EXIT, finish } from "../cli";
import {
  type Diagnosis,
  K3S_ETCD_METRICS_URL,
  diagnose,
  etcdProbeScript,
  parseProbeOutput,
  renderHistogram,
} from "../../components/storage/etcdDoctor";
import { type LogFindings, LOG_SIGNS, type LogSign, analyzeEtcdLogs } from "../../components/storage/etcdLogs";
import { type MemberMetrics, MetricsError, readEtcdMetrics } from "../../components/storage/etcdMetrics";
import { DEFAULT_FAIL_P99_MS, DEFAULT_WARN_P99_MS, type DiskThresholds } from "../../components/storage/thresholds";
import { loadStackSpec, remoteRunner } from "../lib/hosts";
import { type StackOptions, withStackOptions } from "../lib/stackArgs";

export interface DoctorReport extends Diagnosis {
  thresholds: DiskThresholds;
  members: MemberMetrics[];
  logs: { source: string; findings: LogFindings }[];
  /** Sources that could not be read, and why (a host without etcd metrics, a journal without k3s). */
  unavailable: string[];
  seconds: number;
}

/** Reads a metrics page from a URL (http, https) or a file. */
async function readPage(source: string): Promise<string> {
  if (/^https?:\/\//.test(source)) {
    let res: Response;
    try {
      res = await fetch(source, { signal: AbortSignal.timeout(10_000) });
    } catch (err) {
      const cause = (err as { cause?: Error }).cause;
      throw new CliError(`${source}: cannot fetch: ${cause?.message ?? (err as Error).message}`);
    }
    if (!res.ok) throw new CliError(`${source}: HTTP ${res.status} ${res.statusText}`);
    return res.text();
  }
  try {
    return fs.readFileSync(source === "-" ? 0 : source, "utf8");
  } catch (err) {
    throw new CliError(`${source}: cannot read: ${(err as Error).message}`);
  }
}

/** What doctor reads over the stack's connections: each cluster server (the Karmada host is one). */
async function probeStack(opts: StackOptions & { host?: string; since: string; metricsUrl: string }): Promise<{
  pages: { source: string; text: string }[];
  logs: { source: string; text: string }[];
  unavailable: string[];
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
      const { sections, unavailable: missing } = parseProbeOutput(out);
      unavailable.push(...missing.map((m) => `${host}: ${m}`));
      if (sections.metrics?.trim()) pages.push({ source: host, text: sections.metrics });
      if (!missing.some((m) => m.startsWith("journal:")))
        logs.push({ source: `${host} k3s journal`, text: sections.journal ?? "" });
      if (sections["karmada-etcd"] !== undefined && !missing.some((m) => m.startsWith("karmada-etcd:")))
        logs.push({ source: `${host} karmada etcd`, text: sections["karmada-etcd"] });
    }),
  );
  return {
    pages,
    logs,
    unavailable,
    thresholds: { warnMs: spec.diskGate.warnMs, failMs: spec.diskGate.failMs },
  };
}

/** Runs doctor over pages and logs already read. */
export function examine(
  pages: { source: string; text: string }[],
  logTexts: { source: string; text: string }[],
  thresholds: DiskThresholds,
  unavailable: string[] = [],
  started = Date.now(),
): DoctorReport {
  const members: MemberMetrics[] = [];
  for (const p of pages) {
    try {
      members.push(...readEtcdMetrics(p.text, p.source));
    } catch (err) {
      if (err instanceof MetricsError) throw new CliError(err.message);
      throw err;
    }
  }
  const logs = logTexts.map((l) => ({ source: l.source, findings: analyzeEtcdLogs(l.text) }));
  return {
    ...diagnose(members, logs, thresholds),
    thresholds,
    members,
    logs,
    unavailable,
    seconds: (Date.now() - started) / 1000,
  };
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
  if (r.unavailable.length > 0) out.push("", "not read:", ...r.unavailable.map((u) => `  ${u}`));
  out.push("", `verdict: ${r.health}${r.cause ? ` (${r.cause})` : ""}: ${r.summary}`);
  for (const f of r.findings) out.push(`  ${f.level === "fail" ? "✗" : "!"} ${f.message}`);
  return `${out.join("\n").replace(/^\n/, "")}\n`;
}

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
      .option("--warn-ms <n>", `fsync p99 above this warns (default ${DEFAULT_WARN_P99_MS}, or the stack's)`, Number)
      .option("--fail-ms <n>", `fsync p99 above this fails (default ${DEFAULT_FAIL_P99_MS}, or the stack's)`, Number)
      .option("--max-members <n>", "members listed in the table (the slowest first)", Number, 10)
      .option("--json", "print one JSON object"),
  ).action(
    async (
      opts: StackOptions & {
        etcdMetrics?: string[];
        logs?: string[];
        host?: string;
        since: string;
        metricsUrl: string;
        warnMs?: number;
        failMs?: number;
        maxMembers: number;
        json?: boolean;
      },
    ) => {
      const started = Date.now();
      const stackGiven = opts.stack !== undefined || opts.file !== undefined;
      if (!stackGiven && !opts.etcdMetrics && !opts.logs)
        throw new CliError("say where etcd is: --stack NAME, --etcd-metrics URL..., or --logs FILE");
      if (opts.host !== undefined && !stackGiven) throw new CliError("--host needs --stack NAME or --file PATH");
      for (const [flag, v] of [
        ["--warn-ms", opts.warnMs],
        ["--fail-ms", opts.failMs],
      ] as const)
        if (v !== undefined && !(v > 0)) throw new CliError(`${flag}: ${v} is not a positive number`);
      // One duration both journalctl (--since -1h) and kubectl logs (--since=1h) understand.
      if (!/^\d+[smh]$/.test(opts.since))
        throw new CliError(`--since: ${JSON.stringify(opts.since)} is not a duration like 30m, 1h or 90s`);
      if ((opts.logs ?? []).filter((l) => l === "-").length > 1)
        throw new CliError("--logs: - (standard input) at most once");
      let thresholds: DiskThresholds = { warnMs: DEFAULT_WARN_P99_MS, failMs: DEFAULT_FAIL_P99_MS };
      const pages: { source: string; text: string }[] = [];
      const logs: { source: string; text: string }[] = [];
      const unavailable: string[] = [];
      if (stackGiven) {
        const probed = await probeStack({ ...opts });
        pages.push(...probed.pages);
        logs.push(...probed.logs);
        unavailable.push(...probed.unavailable);
        thresholds = probed.thresholds;
      }
      for (const source of opts.etcdMetrics ?? []) pages.push({ source, text: await readPage(source) });
      for (const source of opts.logs ?? [])
        logs.push({ source: source === "-" ? "stdin" : source, text: await readPage(source) });
      if (pages.length === 0 && logs.length === 0)
        throw new CliError(`no etcd to examine: ${unavailable.join("; ") || "no sources"}`);
      thresholds = { warnMs: opts.warnMs ?? thresholds.warnMs, failMs: opts.failMs ?? thresholds.failMs };
      const report = examine(pages, logs, thresholds, unavailable, started);
      // JSON has no infinity: the +Inf bucket's bound is written as Prometheus writes it.
      const json = () => JSON.stringify(report, (_k, v: unknown) => (v === Infinity ? "+Inf" : v), 2);
      process.stdout.write(opts.json ? `${json()}\n` : renderDoctor(report, opts.maxMembers));
      finish(report.health === "healthy" ? EXIT.ok : EXIT.verdict);
    },
  );
}
