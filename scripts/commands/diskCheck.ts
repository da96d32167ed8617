import type { Command } from "commander";
import { limitsOf, numberOption } from "../lib/options";
import { CliError, EXIT, finish } from "../cli";
import type { ExecResult } from "../../components/remote/session";
import { FIO_EXIT, type FioResult, fioScript, parseFioJson, stopNote } from "../../components/disk/fio";
import {
  DEFAULT_BUDGET_SECONDS,
  DEFAULT_FAIL_P99_MS,
  DEFAULT_FIO_SIZE_MIB,
  DEFAULT_WARN_P99_MS,
  type DiskThresholds,
  MIN_FIO_SIZE_MIB,
  explainVerdict,
  verdict,
} from "../../components/disk/thresholds";
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

/** The progress lines the fio script prints on stderr, at most one a second. */
const PROGRESS = /^fdatasync latency: .*$/gm;
const IS_PROGRESS = /^fdatasync latency: /;

/** Runs the etcd fio job through `run`, reporting its progress lines; throws CliError (exit 2) when it cannot measure. */
export async function diskCheck(opts: {
  path: string;
  sizeMiB: number;
  thresholds: DiskThresholds;
  budgetSeconds?: number;
  where: string;
  run: ScriptRunner;
  progress?: (line: string) => void;
}): Promise<DiskCheckReport> {
  const started = Date.now();
  let pending = "";
  const onStderr = (chunk: string) => {
    pending += chunk;
    const lines = pending.split("\n");
    pending = lines.pop() ?? "";
    for (const line of lines) if (IS_PROGRESS.test(line)) opts.progress?.(line);
  };
  const r: ExecResult = await opts.run(
    fioScript({
      path: opts.path,
      sizeMiB: opts.sizeMiB,
      thresholds: opts.thresholds,
      budgetSeconds: opts.budgetSeconds ?? DEFAULT_BUDGET_SECONDS,
    }),
    { onStderr },
  );
  if (r.code !== 0) {
    const known = Object.values(FIO_EXIT) as number[];
    const why = r.stderr.replace(PROGRESS, "").trim().split("\n").pop() || `exit ${r.code}`;
    throw new CliError(`${opts.where}: ${known.includes(r.code) ? why : `the measurement failed: ${why}`}`);
  }
  const result = parseFioJson(r.stdout);
  return {
    ...result,
    where: opts.where,
    path: opts.path,
    verdict: verdict(result.p99Ms, opts.thresholds),
    explanation: `${explainVerdict(result.p99Ms, opts.thresholds)}${stopNote(result)}`,
    thresholds: opts.thresholds,
    seconds: (Date.now() - started) / 1000,
  };
}

/** The short table a person reads. */
export function renderReport(r: DiskCheckReport): string {
  const ms = (x: number) => `${x.toFixed(2).padStart(9)} ms`;
  const of = r.syncs === r.planned ? `${r.syncs}` : `${r.syncs} of ${r.planned} planned`;
  return [
    `disk-check ${r.where}:${r.path} (${r.fioVersion}, ${of} writes of 2300 bytes, each followed by fdatasync, ${r.seconds.toFixed(1)} s)`,
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
      .option(
        "--size-mib <n>",
        `MiB to write (default ${DEFAULT_FIO_SIZE_MIB}, etcd's job; at least ${MIN_FIO_SIZE_MIB}, ${Math.floor((MIN_FIO_SIZE_MIB * 1024 * 1024) / 2300)} syncs)`,
      )
      .option("--warn-ms <n>", `p99 above this warns (default ${DEFAULT_WARN_P99_MS})`)
      .option("--fail-ms <n>", `p99 above this fails (default ${DEFAULT_FAIL_P99_MS})`)
      .option(
        "--budget-seconds <n>",
        `wall-clock limit; the verdict then comes from the syncs made (default ${DEFAULT_BUDGET_SECONDS})`,
      )
      .option("--json", "print one JSON object"),
  ).action(
    async (
      opts: StackOptions & {
        path: string;
        host?: string;
        sizeMib?: string;
        warnMs?: string;
        failMs?: string;
        budgetSeconds?: string;
        json?: boolean;
      },
    ) => {
      const sizeOpt = numberOption("--size-mib", opts.sizeMib, MIN_FIO_SIZE_MIB);
      const warnOpt = numberOption("--warn-ms", opts.warnMs);
      const failOpt = numberOption("--fail-ms", opts.failMs);
      const budgetOpt = numberOption("--budget-seconds", opts.budgetSeconds);
      let run: ScriptRunner = runLocally;
      let where = "localhost";
      let gate = {
        warnMs: DEFAULT_WARN_P99_MS,
        failMs: DEFAULT_FAIL_P99_MS,
        sizeMiB: DEFAULT_FIO_SIZE_MIB,
        budgetSeconds: DEFAULT_BUDGET_SECONDS,
      };
      if (opts.host !== undefined) {
        const spec = loadStackSpec(opts);
        gate = spec.diskGate;
        try {
          run = await remoteRunner(spec, opts.host);
        } catch (err) {
          throw err instanceof CliError ? err : new CliError((err as Error).message);
        }
        where = opts.host;
      } else if (opts.stack !== undefined || opts.file !== undefined)
        throw new CliError("--stack/--file need --host NAME (which host of the stack to measure)");
      const thresholds = limitsOf({ warnMs: warnOpt, failMs: failOpt }, gate);
      const what = `measuring fdatasync latency at ${where}:${opts.path}...`;
      // A live line on a terminal; on a log, the script's progress lines (at most one a second) as they come.
      const tty = process.stderr.isTTY;
      process.stderr.write(tty ? what : `${what}\n`);
      const progress = (line: string) =>
        process.stderr.write(tty ? `\r\x1b[K${what} ${line.replace(/^fdatasync latency: /, "")}` : `${line}\n`);
      let report: DiskCheckReport;
      try {
        report = await diskCheck({
          path: opts.path,
          sizeMiB: sizeOpt ?? gate.sizeMiB,
          thresholds,
          budgetSeconds: budgetOpt ?? gate.budgetSeconds,
          where,
          run,
          progress,
        });
      } catch (err) {
        throw err instanceof CliError ? err : new CliError(`${where}: ${(err as Error).message}`);
      } finally {
        if (tty) process.stderr.write("\n");
      }
      process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : renderReport(report));
      finish(report.verdict === "pass" ? EXIT.ok : EXIT.verdict);
    },
  );
}
