import { criticalPath, planSteps } from "../lib/graph";

/** Steps that measure a disk with fio: on one physical disk they run one after another, by design. */
const MEASUREMENT = /\/(fsync-before|fsync-after|disk-gate-[^/]+)$/;

const s = (ms: number) => (ms / 1000).toFixed(1);

/**
 * The simulated testbed's benchmark: a full `sim up` on fresh hosts run as Pulumi runs it (independent steps in
 * parallel), then the same graph forced serial, with the figures that explain the difference: the critical path
 * at the serial run's step times is the shortest wall time any scheduler could reach on this graph, so
 * serial wall / that path is the best speedup the graph allows, whatever the engine does.
 */
export async function benchSim(log: (line: string) => void): Promise<Record<string, unknown>> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const hosts = require("../sim/hosts") as typeof import("../sim/hosts");
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const engine = require("../sim/engine") as typeof import("../sim/engine");

  const fresh = async () => {
    await engine.destroy().catch(() => undefined);
    hosts.simDown();
    hosts.simUp();
  };
  const measure = async (serial: boolean) => {
    await fresh();
    const r = await engine.up({ serial });
    const steps = planSteps(r.resources);
    const duration = new Map(r.steps.map((x) => [x.name, x.endMs - x.startMs]));
    const path = criticalPath(steps, duration);
    return {
      steps,
      duration,
      figures: {
        wallS: r.wallMs / 1000,
        sumOfStepsS: [...duration.values()].reduce((a, b) => a + b, 0) / 1000,
        criticalPathS: path.totalMs / 1000,
        criticalPathSteps: path.chain.length,
        longestChainSteps: Math.max(...steps.map((x) => x.wave)) + 1,
        steps: r.steps.length,
        sessionsPerHost: r.sessionsPerHost,
      },
    };
  };
  log("sim: full up on fresh hosts, parallel (as Pulumi runs the graph)...");
  const parallel = await measure(false);
  const p = parallel.figures;
  log(
    `  wall ${p.wallS.toFixed(1)} s, sum of step times ${p.sumOfStepsS.toFixed(1)} s, critical path ${p.criticalPathS.toFixed(1)} s (${p.criticalPathSteps} steps; deepest chain ${p.longestChainSteps} steps), ${p.steps} steps`,
  );
  log(`  SSH sessions opened per host: ${JSON.stringify(p.sessionsPerHost)}`);
  log("sim: the same graph forced serial (one step at a time)...");
  const serial = await measure(true);
  const q = serial.figures;
  log(`  wall ${q.wallS.toFixed(1)} s, sum of step times ${q.sumOfStepsS.toFixed(1)} s`);
  const speedup = q.wallS / p.wallS;
  log(`  parallel is ${speedup.toFixed(2)}x faster than serial`);

  // What the graph allows: its critical path at the serial run's (uncontended) step times.
  const bound = criticalPath(parallel.steps, serial.duration);
  const onChain = bound.chain.map((n) => ({ name: n, ms: serial.duration.get(n) ?? 0 }));
  const measuringMs = onChain.filter((x) => MEASUREMENT.test(x.name)).reduce((a, x) => a + x.ms, 0);
  const allMeasuringMs = [...serial.duration].filter(([n]) => MEASUREMENT.test(n)).reduce((a, [, ms]) => a + ms, 0);
  const bestSpeedup = q.wallS / (bound.totalMs / 1000);
  log(`  critical path at serial step times: ${s(bound.totalMs)} s`);
  log(`    ${onChain.map((x) => `${x.name} ${s(x.ms)}`).join(" -> ")}`);
  log(
    `    disk measurements on it: ${s(measuringMs)} s (all measurements: ${s(allMeasuringMs)} s; those sharing a disk run one after another)`,
  );
  log(`  best speedup this graph allows (serial wall / that path): ${bestSpeedup.toFixed(2)}x`);
  // Before the shared measurement, karmada-host measured its VM disk a second time (Karmada's etcd path) right after
  // k3s' path, and everything waiting on the last measurement of that disk waited on that one. The same graph with
  // that step put back, at the time of the measurement it repeated, is the critical path as it was.
  const shared = "karmada-host/disk-gate-k3s";
  const second = "karmada-host/disk-gate-karmada-etcd";
  const unshared = [
    ...parallel.steps.map((x) => ({
      name: x.name,
      dependsOn: x.dependsOn.includes(shared) ? [...x.dependsOn, second] : x.dependsOn,
    })),
    { name: second, dependsOn: [shared] },
  ];
  const unsharedDuration = new Map(serial.duration).set(second, serial.duration.get(shared) ?? 0);
  const beforeSharing = criticalPath(unshared, unsharedDuration);
  log(
    `  critical path with karmada-host's disk measured twice (as before): ${s(beforeSharing.totalMs)} s; measured once (now): ${s(bound.totalMs)} s`,
  );
  log(
    `  contention: the parallel run's steps took ${p.sumOfStepsS.toFixed(1)} s in all against ${q.sumOfStepsS.toFixed(1)} s serial (${(p.sumOfStepsS / q.sumOfStepsS).toFixed(2)}x, on this machine's cores)`,
  );
  await engine.destroy().catch(() => undefined);
  hosts.simDown();
  return {
    parallel: p,
    serial: q,
    speedup,
    bound: {
      criticalPathAtSerialTimesS: bound.totalMs / 1000,
      chain: onChain.map((x) => ({ step: x.name, s: x.ms / 1000 })),
      measurementsOnChainS: measuringMs / 1000,
      allMeasurementsS: allMeasuringMs / 1000,
      bestSpeedup,
      criticalPathMeasuredTwiceS: beforeSharing.totalMs / 1000,
    },
  };
}
