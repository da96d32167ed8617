import { planSteps } from "../lib/graph";

/**
 * The simulated testbed's benchmark: a full `sim up` on fresh hosts run as Pulumi runs it (independent steps in
 * parallel), then the same graph forced serial, with the figures that explain the difference.
 */
export async function benchSim(log: (line: string) => void): Promise<Record<string, unknown>> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const hosts = require("../../test/sim/hosts") as typeof import("../../test/sim/hosts");
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const engine = require("../../test/sim/engine") as typeof import("../../test/sim/engine");

  const fresh = async () => {
    await engine.destroy().catch(() => undefined);
    hosts.simDown();
    hosts.simUp();
  };
  const measure = async (serial: boolean) => {
    await fresh();
    const r = await engine.up({ serial });
    const steps = planSteps(r.resources);
    const duration = new Map(r.steps.map((s) => [s.name, s.endMs - s.startMs]));
    // The critical path: the longest chain of dependent steps, by their measured durations.
    const finish = new Map<string, number>();
    for (const s of steps)
      finish.set(s.name, (duration.get(s.name) ?? 0) + Math.max(0, ...s.dependsOn.map((d) => finish.get(d) ?? 0)));
    return {
      wallS: r.wallMs / 1000,
      sumOfStepsS: [...duration.values()].reduce((a, b) => a + b, 0) / 1000,
      criticalPathS: Math.max(...finish.values()) / 1000,
      longestChainSteps: Math.max(...steps.map((s) => s.wave)) + 1,
      steps: r.steps.length,
      sessionsPerHost: r.sessionsPerHost,
    };
  };
  log("sim: full up on fresh hosts, parallel (as Pulumi runs the graph)...");
  const parallel = await measure(false);
  log(
    `  wall ${parallel.wallS.toFixed(1)} s, sum of step times ${parallel.sumOfStepsS.toFixed(1)} s, critical path ${parallel.criticalPathS.toFixed(1)} s (${parallel.longestChainSteps} steps), ${parallel.steps} steps`,
  );
  log(`  SSH sessions opened per host: ${JSON.stringify(parallel.sessionsPerHost)}`);
  log("sim: the same graph forced serial (one step at a time)...");
  const serial = await measure(true);
  log(`  wall ${serial.wallS.toFixed(1)} s, sum of step times ${serial.sumOfStepsS.toFixed(1)} s`);
  const speedup = serial.wallS / parallel.wallS;
  log(`  parallel is ${speedup.toFixed(2)}x faster than serial`);
  await engine.destroy().catch(() => undefined);
  hosts.simDown();
  return { parallel, serial, speedup };
}
