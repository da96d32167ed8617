import * as fs from "node:fs";
import * as path from "node:path";
import type { Command } from "commander";
import { CliError } from "../cli";
import { readStackConfig, stackFilePath } from "../../components/spec";

/** The project root (where Pulumi.yaml and stacks/ live). */
export const PROJECT_DIR = path.resolve(__dirname, "../..");

export interface StackOptions {
  stack?: string;
  file?: string;
}

/** Adds the shared `--stack NAME | --file PATH` options. */
export function withStackOptions(cmd: Command): Command {
  return cmd
    .option("-s, --stack <name>", "a stack of this project: stacks/Pulumi.<name>.yaml")
    .option("-f, --file <path>", "a Pulumi stack settings file anywhere");
}

/** Reads the raw `testbed:*` settings named by --stack or --file (exactly one of them). */
export function loadStackSettings(opts: StackOptions): { stack: string; file: string; raw: Record<string, unknown> } {
  if ((opts.stack === undefined) === (opts.file === undefined))
    throw new CliError("give exactly one of --stack NAME or --file PATH");
  const file = opts.file !== undefined ? path.resolve(opts.file) : stackFilePath(PROJECT_DIR, opts.stack as string);
  if (!fs.existsSync(file)) {
    const known = fs.existsSync(path.join(PROJECT_DIR, "stacks"))
      ? fs
          .readdirSync(path.join(PROJECT_DIR, "stacks"))
          .map((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1])
          .filter((s) => s !== undefined)
      : [];
    throw new CliError(
      `no stack settings at ${file}${opts.stack !== undefined ? ` (stacks here: ${known.join(", ") || "none"})` : ""}`,
    );
  }
  const stack = opts.stack ?? /Pulumi\.(.+)\.yaml$/.exec(path.basename(file))?.[1] ?? "dev";
  try {
    return { stack, file, raw: readStackConfig(file) };
  } catch (err) {
    throw new CliError(`${file}: not a readable Pulumi stack file: ${(err as Error).message}`);
  }
}
