import type { Command } from "commander";
import { EXIT, finish } from "../cli";
import { formatIssue, validateSpec } from "../../components/spec";
import { type PlanStep, longestChain, planSteps } from "../lib/graph";
import { PROJECT_DIR, type StackOptions, loadStackSettings, withStackOptions } from "../lib/stackArgs";
import * as path from "node:path";

/** The human-readable plan: steps grouped by host, each with its wave and what it waits for. */
export function renderPlan(steps: PlanStep[]): string {
  const hosts = [...new Set(steps.map((s) => s.host))];
  const lines = [
    `${steps.length} steps on ${hosts.length} host(s); longest dependency chain: ${longestChain(steps)} steps`,
  ];
  for (const host of hosts) {
    lines.push("", `${host}:`);
    for (const s of steps.filter((x) => x.host === host)) {
      const after = s.dependsOn.length > 0 ? `  after ${s.dependsOn.join(", ")}` : "";
      const secret = s.secretInputs.length > 0 ? `  [secret: ${s.secretInputs.join(", ")}]` : "";
      lines.push(`  wave ${String(s.wave).padStart(2)}  ${s.name}${after}${secret}`);
    }
  }
  return `${lines.join("\n")}\n`;
}

export function register(program: Command): void {
  withStackOptions(
    program
      .command("plan")
      .description("run the real program offline (Pulumi mock runtime) and list the steps `pulumi up` would create")
      .option("--json", "print one JSON array of { name, type, host, dependsOn, secretInputs }"),
  ).action(async (opts: StackOptions & { json?: boolean }) => {
    const { stack, file, raw } = loadStackSettings(opts);
    const { spec, issues } = validateSpec(raw, { baseDir: path.dirname(path.dirname(file)), unreadableFiles: "warn" });
    if (spec === undefined) {
      for (const issue of issues) process.stderr.write(`  ${formatIssue(issue)}\n`);
      return finish(EXIT.badInput, `${file}: ${issues.length} error(s); nothing planned`);
    }
    // The program's own warnings (unreadable key files) go to stderr, never into the JSON on stdout.
    const log = console.log;
    console.log = (...args: unknown[]) => console.error(...args);
    let steps: PlanStep[];
    try {
      // Pulumi's SDK takes over a second to load: only the commands that run the program load it.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { runProgram } = require("../lib/programRunner") as typeof import("../lib/programRunner");
      const { resources } = await runProgram({ stack, config: raw, projectDir: PROJECT_DIR, preview: true });
      steps = planSteps(resources);
    } finally {
      console.log = log;
    }
    if (opts.json) {
      const rows = steps.map(({ name, type, host, dependsOn, secretInputs }) => ({
        name,
        type,
        host,
        dependsOn,
        secretInputs,
      }));
      process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    } else process.stdout.write(renderPlan(steps));
    finish(EXIT.ok);
  });
}
