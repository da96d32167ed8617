import { Command, CommanderError } from "commander";

/** Exit codes shared by every command (DESIGN.md, "The operator CLI"). */
export const EXIT = { ok: 0, verdict: 1, badInput: 2 } as const;

/** An error the CLI reports as one message and a chosen exit code, without a stack trace. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.badInput,
  ) {
    super(message);
  }
}

/** Sets the process exit code to `code` and prints `message` (if any) to stderr. */
export function finish(code: number, message?: string): void {
  if (message) process.stderr.write(message.endsWith("\n") ? message : `${message}\n`);
  process.exitCode = code;
}

type Registrar = (program: Command) => void;

// Each command lives in scripts/commands/<name>.ts and exports `register(program)`.
// A module that is missing (a command not built yet) is skipped rather than breaking the others.
const COMMAND_MODULES = ["validate", "plan", "diskCheck", "doctor", "backend", "reset", "sim", "bench"];

export function buildProgram(): Command {
  const program = new Command("testbed")
    .description("Operator CLI of the cloud-edge testbed provisioner")
    .showHelpAfterError()
    .exitOverride();
  for (const name of COMMAND_MODULES) {
    let mod: { register?: Registrar };
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      mod = require(`./commands/${name}`);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "MODULE_NOT_FOUND" && String(err).includes(`commands/${name}`))
        continue;
      throw err;
    }
    mod.register?.(program);
  }
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  // A command whose promise never settles (a stuck output) must not look like success when node runs dry.
  let settled = false;
  process.once("exit", () => {
    if (settled) return;
    process.stderr.write("testbed: internal error: the command stopped before it finished\n");
    process.exitCode = EXIT.badInput;
  });
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version exit 0; every other parse error is bad input.
      process.exitCode = err.exitCode === 0 ? EXIT.ok : EXIT.badInput;
      return;
    }
    if (err instanceof Error && err.name === "StepError") {
      finish(EXIT.verdict, `testbed: ${err.message}`);
      return;
    }
    if (err instanceof CliError) {
      finish(err.exitCode, `testbed: ${err.message}`);
      return;
    }
    finish(EXIT.badInput, `testbed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  } finally {
    settled = true;
  }
}
