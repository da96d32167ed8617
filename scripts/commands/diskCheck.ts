import type { Command } from "commander";
import { CliError, EXIT, finish } from "../cli";
import type { ExecResult } from "../../components/remote/session";
import { FIO_EXIT, type FioResult, fioScript, parseFioJson } from "../../components/storage/fio";
import {
  DEFAULT_FAIL_P99_MS,
  DEFAULT_FIO_SIZE_MIB,
  DEFAULT_WARN_P99_MS,
  type DiskThresholds,
  explainVerdict,
  verdict,
} from "../../components/storage/thresholds";
import { type ScriptRunner, loadStackSpec, remoteRunner, runLocally } from "../lib/hosts";
import { type StackOptions, withStackOptions } from "../lib/stackArgs";

export interface DiskCheckReport extends FioResult {
  where: string;
  path: string;
  verdict: "pass" | "warn" | "fail";
  explanation: string;
  thresholds: DiskThresholds;
  seconds: number;
}

/** Runs the etcd fio job through `run`, reporting progress; throws CliError (exit 2) when it cannot measure. */
export async function diskCheck(opts: {
  path: string;
  sizeMiB: number;
  thresholds: DiskThresholds;
  where: string;
  run: ScriptRunner;
  progress?: (seconds: number) => void;
}): Promise<DiskCheckReport> {
  const started = Date.now();
  const timer = opts.progress ? setInterval(() => opts.progress?.((Date.now() - started) / 1000), 1000) : undefined;
  let r: ExecResult;
  try {
    r = await opts.run(fioScript({ path: opts.path, sizeMiB: opts.sizeMiB }));
  } finally {
    clearInterval(timer);
  }
  if (r.code !== 0) {
    const known = Object.values(FIO_EXIT) as number[];
    const why = r.stderr.trim().split("\n").pop() ?? `exit ${r.code}`;
    throw new CliError(`${opts.where}: ${known.includes(r.code) ? why : `the measurement failed: ${why}`}`);
  }
  const result = parseFioJson(r.stdout);
  return {
    ...result,
    where: opts.where,
    path: opts.path,
    verdict: verdict(result.p99Ms, opts.thresholds),
    explanation: explainVerdict(result.p99Ms, opts.thresholds),
    thresholds: opts.thresholds,
    seconds: (Date.now() - started) / 1000,
  };
}

/** The short table a person reads. */
export function renderReport(r: DiskCheckReport): string {
  const ms = (x: number) => `${x.toFixed(2).padStart(9)} ms`;
  return [
    `disk-check ${r.where}:${r.path} (${r.fioVersion}, ${r.syncs} writes of 2300 bytes, each followed by fdatasync, ${r.seconds.toFixed(1)} s)`,
    `  p50   ${ms(r.p50Ms)}`,
    `  p99   ${ms(r.p99Ms)}   warn above ${r.thresholds.warnMs} ms, fail above ${r.thresholds.failMs} ms`,
    `  p99.9 ${ms(r.p999Ms)}`,
    `  max   ${ms(r.maxMs)}`,
    `  iops  ${r.iops.toFixed(0).padStart(9)}`,
    `verdict: ${r.verdict}: ${r.explanation}`,
    "",
  ].join("\n");
}

export function register(program: Command): void {
  withStackOptions(
    program
      .command("disk-check")
      .description(
        "etcd-style fdatasync latency at a directory (fio: 2300-byte writes, fdatasync each), with a verdict",
      )
      .requiredOption("-p, --path <dir>", "the directory to measure (where etcd writes)")
      .option("--host <name>", "measure on this host of the stack (with --stack or --file) instead of here")
      .option("--size-mib <n>", `MiB to write (default ${DEFAULT_FIO_SIZE_MIB}, etcd's job)`, Number)
      .option("--warn-ms <n>", `p99 above this warns (default ${DEFAULT_WARN_P99_MS})`, Number)
      .option("--fail-ms <n>", `p99 above this fails (default ${DEFAULT_FAIL_P99_MS})`, Number)
      .option("--json", "print one JSON object"),
  ).action(
    async (
      opts: StackOptions & {
        path: string;
        host?: string;
        sizeMib?: number;
        warnMs?: number;
        failMs?: number;
        json?: boolean;
      },
    ) => {
      let run: ScriptRunner = runLocally;
      let where = "localhost";
      let thresholds: DiskThresholds = { warnMs: DEFAULT_WARN_P99_MS, failMs: DEFAULT_FAIL_P99_MS };
      let sizeMiB = DEFAULT_FIO_SIZE_MIB;
      if (opts.host !== undefined) {
        const spec = loadStackSpec(opts);
        thresholds = { warnMs: spec.diskGate.warnMs, failMs: spec.diskGate.failMs };
        sizeMiB = spec.diskGate.sizeMiB;
        try {
          run = await remoteRunner(spec, opts.host);
        } catch (err) {
          throw err instanceof CliError ? err : new CliError((err as Error).message);
        }
        where = opts.host;
      } else if (opts.stack !== undefined || opts.file !== undefined)
        throw new CliError("--stack/--file need --host NAME (which host of the stack to measure)");
      thresholds = { warnMs: opts.warnMs ?? thresholds.warnMs, failMs: opts.failMs ?? thresholds.failMs };
      for (const [flag, v] of [
        ["--size-mib", opts.sizeMib],
        ["--warn-ms", opts.warnMs],
        ["--fail-ms", opts.failMs],
      ] as const)
        if (v !== undefined && !(v > 0)) throw new CliError(`${flag}: ${v} is not a positive number`);
      const what = `measuring fdatasync latency at ${where}:${opts.path}...`;
      // A live counter on a terminal; one line in a log.
      const progress = process.stderr.isTTY
        ? (s: number) => process.stderr.write(`\r${what} ${s.toFixed(0)} s`)
        : undefined;
      if (!process.stderr.isTTY) process.stderr.write(`${what}`);
      let report: DiskCheckReport;
      try {
        report = await diskCheck({
          path: opts.path,
          sizeMiB: opts.sizeMib ?? sizeMiB,
          thresholds,
          where,
          run,
          progress,
        });
      } catch (err) {
        throw err instanceof CliError ? err : new CliError(`${where}: ${(err as Error).message}`);
      } finally {
        process.stderr.write("\n");
      }
      process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : renderReport(report));
      finish(report.verdict === "pass" ? EXIT.ok : EXIT.verdict);
    },
  );
}
