import type { Command } from "commander";
import { CliError, EXIT, finish } from "../cli";

/** `testbed bench` (npm run bench): prints figures; never a pass/fail timing test. */
export function register(program: Command): void {
  program
    .command("bench")
    .description(
      "benchmarks: the simulated testbed (parallel vs serial), the storage checks, and the demo commands against a kube-apiserver and on the simulated testbed; prints figures",
    )
    .option("--only <name>", "sim, real-engine, storage, demo or sim-demo")
    .option("--json", "print all figures as one JSON object at the end")
    .action(async (opts: { only?: string; json?: boolean }) => {
      if (process.getuid?.() !== 0) throw new CliError("the benchmarks need root (the simulated testbed, strace)");
      const log = (line: string) => process.stderr.write(`${line}\n`);
      const figures: Record<string, unknown> = {};
      if (opts.only === undefined || opts.only === "sim") {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const { benchSim } = require("../bench/sim") as typeof import("../bench/sim");
        figures.sim = await benchSim(log);
      }
      if (opts.only === undefined || opts.only === "real-engine") {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const { benchRealEngine } = require("../bench/realEngine") as typeof import("../bench/realEngine");
        figures.realEngine = await benchRealEngine(log);
      }
      if (opts.only === undefined || opts.only === "storage") {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const { benchStorage } = require("../bench/storage") as typeof import("../bench/storage");
        figures.storage = await benchStorage(log);
      }
      if (opts.only === undefined || opts.only === "demo") {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const { benchDemo } = require("../bench/demo") as typeof import("../bench/demo");
        figures.demo = await benchDemo(log);
      }
      if (opts.only === undefined || opts.only === "sim-demo") {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const { benchSimDemo } = require("../bench/simDemo") as typeof import("../bench/simDemo");
        figures.simDemo = await benchSimDemo(log);
      }
      if (opts.json) process.stdout.write(`${JSON.stringify(figures, null, 2)}\n`);
      finish(EXIT.ok);
    });
}
