import type { DiskThresholds } from "../../components/disk/thresholds";
import { CliError } from "../cli";

/**
 * One numeric option, checked as the spec checks its diskGate settings (a finite number above zero) and, where a
 * floor applies (the measurement size), at least that floor. A bad value is a CliError (exit 2) naming the option.
 */
export function numberOption(flag: string, text: string | undefined, min = 0): number | undefined {
  if (text === undefined) return undefined;
  const v = Number(text);
  if (text.trim() === "" || Number.isNaN(v)) throw new CliError(`${flag}: ${JSON.stringify(text)} is not a number`);
  if (!Number.isFinite(v)) throw new CliError(`${flag}: ${text} is not a finite number`);
  if (!(v > 0)) throw new CliError(`${flag}: ${text} must be above 0`);
  if (v < min) throw new CliError(`${flag}: ${text} is below the floor of ${min}`);
  return v;
}

/** A whole number of at least 1 from an option, or a CliError naming the option. */
export function wholeNumberOption(flag: string, text: string): number {
  const v = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!(Number.isSafeInteger(v) && v >= 1))
    throw new CliError(`${flag}: ${JSON.stringify(text)} is not a whole number of 1 or more`);
  return v;
}

/**
 * The limits a verdict is judged by: `--warn-ms`/`--fail-ms` where given, the stack's (or the defaults) otherwise,
 * held to the spec's rule that warn is below fail, naming the option that broke it.
 */
export function limitsOf(opts: { warnMs?: number; failMs?: number }, base: DiskThresholds): DiskThresholds {
  const t = { warnMs: opts.warnMs ?? base.warnMs, failMs: opts.failMs ?? base.failMs };
  if (t.warnMs >= t.failMs)
    throw new CliError(
      `${opts.warnMs !== undefined ? "--warn-ms" : "--fail-ms"}: warn limit ${t.warnMs} ms must be below the fail limit ${t.failMs} ms`,
    );
  return t;
}
