import { criticalPath, planSteps } from "../lib/graph";

const s = (ms: number) => (ms / 1000).toFixed(1);

/**
 * The real engine against the mock-runtime engine (README.md, "The real Pulumi engine"): one `up` of each on fresh
 * sim hosts, on the same stack (the sim stack without the Kubernetes settings the real engine cannot provision
 * here: KUBERNETES_SETTINGS), with the critical path of that graph at the mock run's step times: the shortest wall
 * time any engine could reach. Figures only; skipped, saying why, where setup-pulumi.sh has not made the real engine available.
 */
export async function benchRealEngine(log: (line: string) => void): Promise<Record<string, unknown>> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const hosts = require("../sim/hosts") as typeof import("../sim/hosts");
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const engine = require("../sim/engine") as typeof import("../sim/engine");
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const real = require("../sim/pulumiEngine") as typeof import("../sim/pulumiEngine");

  const found = real.findPulumi();
  if ("missing" in found) {
    log(`real engine: skipped: ${found.missing}`);
    return { skipped: found.missing };
  }
  const { cli } = found;
  const freshHosts = async () => {
    await engine.destroy().catch(() => undefined);
    if (real.simStackHasResources()) await real.destroy(cli).catch(() => undefined);
    real.forgetSimStack();
    hosts.simDown();
    hosts.simUp();
  };
  try {
    log(
      `real engine: pulumi ${cli.version} against the mock-runtime engine, same stack (${real.KUBERNETES_SETTINGS.join(", ")} left out), fresh hosts each`,
    );
    await freshHosts();
    const mock = await engine.up({ stack: real.stackWithoutKubernetes() });
    const steps = planSteps(mock.resources);
    const duration = new Map(mock.steps.map((x) => [x.name, x.endMs - x.startMs]));
    const path_ = criticalPath(steps, duration);
    log(
      `  mock-runtime engine: wall ${s(mock.wallMs)} s, ${mock.steps.length} steps, critical path ${s(path_.totalMs)} s`,
    );
    await freshHosts();
    const r = await real.up(cli);
    log(`  real engine: pulumi up wall ${s(r.wallMs)} s`);
    const second = await real.up(cli, undefined, ["--expect-no-changes"]);
    log(`  real engine: a second pulumi up (no changes) ${s(second.wallMs)} s`);
    const d = await real.destroy(cli);
    log(`  real engine: pulumi destroy ${s(d.wallMs)} s`);
    log(
      `  real up / mock up: ${(r.wallMs / mock.wallMs).toFixed(2)}x; real up / critical path: ${(r.wallMs / path_.totalMs).toFixed(2)}x (over it by ${s(r.wallMs - path_.totalMs)} s)`,
    );
    return {
      pulumiVersion: cli.version,
      mock: { wallS: mock.wallMs / 1000, steps: mock.steps.length, criticalPathS: path_.totalMs / 1000 },
      real: { upWallS: r.wallMs / 1000, secondUpWallS: second.wallMs / 1000, destroyWallS: d.wallMs / 1000 },
      realOverMock: r.wallMs / mock.wallMs,
      realOverCriticalPath: r.wallMs / path_.totalMs,
    };
  } finally {
    real.forgetSimStack();
    await engine.destroy().catch(() => undefined);
    hosts.simDown();
  }
}
