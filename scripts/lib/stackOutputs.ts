/**
 * A stack's outputs, secrets included, for the commands that talk to what the program built (`backend`, `reset`).
 * The values are secrets (kubeconfigs): they are returned, never printed, and no message here quotes them.
 *
 * - The sim stack: provisioned by the mock engine, its outputs are the file SIM_OUTPUTS_FILE that `sim up` saves
 *   (mode 0600, as the engine's state); provisioned by `sim up --engine pulumi`, the real engine's stack.
 * - Any other stack: `pulumi stack output --json --show-secrets --stack <S>`, with the Pulumi CLI from PATH, in the
 *   project directory (its Pulumi.yaml names the backend).
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { CliError } from "../cli";
import { PROJECT_DIR } from "./stackArgs";

/** The simulated testbed's stack name (stacks/Pulumi.sim.yaml). */
export const SIM_STACK_NAME = "sim";
/** Where `sim up` (mock engine) saves the stack outputs, secrets in the clear: root's, 0600, beside its state. */
export const SIM_OUTPUTS_FILE = path.join(PROJECT_DIR, ".sim", "outputs.json");
/** Bound on `pulumi stack output`: it reads the state and decrypts a few values; seconds, even on a remote backend. */
export const PULUMI_OUTPUT_TIMEOUT_MS = 60_000;

export type StackOutputs = Record<string, unknown>;

function parseOutputs(text: string, where: string): StackOutputs {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new CliError(`${where}: the stack outputs are not JSON`);
  }
  if (doc === null || typeof doc !== "object" || Array.isArray(doc))
    throw new CliError(`${where}: the stack outputs are not a JSON object`);
  return doc as StackOutputs;
}

/** What runs `pulumi`: spawnSync by default; tests give another. */
export type PulumiRun = (
  args: string[],
  opts: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs: number },
) => { status: number | null; stdout: string; stderr: string; error?: NodeJS.ErrnoException };

const spawnPulumi: PulumiRun = (args, opts) => {
  const r = spawnSync("pulumi", args, {
    cwd: opts.cwd,
    env: opts.env,
    encoding: "utf8",
    timeout: opts.timeoutMs,
    maxBuffer: 64 * 1024 * 1024,
  });
  return { status: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? "", error: r.error as NodeJS.ErrnoException };
};

/** `pulumi stack output --json --show-secrets --stack <stack>`, or a CliError (exit 2) saying what is missing. */
export function pulumiStackOutputs(stack: string, run: PulumiRun = spawnPulumi, env = process.env): StackOutputs {
  const r = run(["stack", "output", "--json", "--show-secrets", "--non-interactive", "--stack", stack], {
    cwd: PROJECT_DIR,
    env: { ...env, PULUMI_SKIP_UPDATE_CHECK: "1" },
    timeoutMs: PULUMI_OUTPUT_TIMEOUT_MS,
  });
  if (r.error?.code === "ENOENT")
    throw new CliError(
      `stack ${stack}: its outputs come from the Pulumi CLI, and there is no \`pulumi\` on PATH: install it (https://www.pulumi.com/docs/install/) or run bash scripts/setup-pulumi.sh`,
    );
  if (r.error?.code === "ETIMEDOUT")
    throw new CliError(
      `stack ${stack}: pulumi stack output gave no answer within ${PULUMI_OUTPUT_TIMEOUT_MS / 1000} s`,
    );
  if (r.error !== undefined) throw new CliError(`stack ${stack}: cannot run pulumi: ${r.error.message}`);
  if (r.status !== 0) {
    // pulumi's own error (no such stack, not logged in, no passphrase); it quotes no output value.
    const why = r.stderr.trim().split("\n").filter(Boolean).pop() ?? `exit ${r.status}`;
    throw new CliError(`stack ${stack}: pulumi stack output failed: ${why}`);
  }
  return parseOutputs(r.stdout, `stack ${stack}`);
}

type PulumiEngine = typeof import("../sim/pulumiEngine");

// Loaded lazily: the sim's modules are a development tool of the CLI.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const loadPulumiEngine = () => require("../sim/pulumiEngine") as PulumiEngine;

/** The outputs `sim up` saved, or the real engine's when the sim was provisioned with `--engine pulumi`. */
export async function simStackOutputs(
  file = SIM_OUTPUTS_FILE,
  engine: () => Pick<PulumiEngine, "simStackHasResources"> & Partial<PulumiEngine> = loadPulumiEngine,
): Promise<StackOutputs> {
  const pulumiEngine = engine() as PulumiEngine;
  if (pulumiEngine.simStackHasResources()) {
    const found = pulumiEngine.findPulumi();
    if ("missing" in found) throw new CliError(found.missing);
    await pulumiEngine.selectSimStack(found.cli);
    const r = await pulumiEngine.runPulumi(found.cli, [
      "stack",
      "output",
      "--json",
      "--show-secrets",
      "--stack",
      pulumiEngine.SIM_STACK_NAME,
    ]);
    if (r.status !== 0)
      throw new CliError(`stack sim: pulumi stack output failed: ${r.stderr.trim().split("\n").pop() ?? ""}`);
    return parseOutputs(r.stdout, "stack sim");
  }
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT")
      throw new CliError(`stack sim: no outputs saved at ${file}: provision it first (sudo npx testbed sim up)`);
    if (code === "EACCES") throw new CliError(`stack sim: ${file} is root's (0600): run this command with sudo`);
    throw new CliError(`stack sim: cannot read ${file}: ${(err as Error).message}`);
  }
  return parseOutputs(text, file);
}

/** The outputs of a stack, as the rules at the top of this file find them. */
export async function stackOutputs(stack: string): Promise<StackOutputs> {
  return stack === SIM_STACK_NAME ? simStackOutputs() : pulumiStackOutputs(stack);
}

/** One output that must be a non-empty string (a kubeconfig), or a CliError naming it (never its value). */
export function stringOutput(outputs: StackOutputs, name: string, stack: string): string {
  const v = outputs[name];
  if (typeof v !== "string" || v === "") {
    const known = Object.keys(outputs).sort().join(", ") || "none";
    throw new CliError(
      v === undefined
        ? `stack ${stack} has no output ${name} (outputs: ${known}): is Karmada in its spec, and has \`pulumi up\` run since?`
        : `stack ${stack}: output ${name} is not a string`,
    );
  }
  if (v === "[secret]")
    throw new CliError(`stack ${stack}: output ${name} is masked ([secret]): the outputs were read without secrets`);
  return v;
}
