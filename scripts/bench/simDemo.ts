import { spawnSync } from "node:child_process";
import * as path from "node:path";

const s = (ms: number) => (ms / 1000).toFixed(2);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Rounds of backend remote, reset --dry-run and reset: enough for a median, few enough to keep the bench short. */
export const ROUNDS = 3;

/**
 * The demo commands on the simulated testbed (README.md, the sim section): a full `sim up` with Karmada and the
 * vAccel pipeline on fresh hosts, then ROUNDS of `backend remote`, `reset --dry-run` and `reset`, each run as a user
 * runs it (the CLI in its own process, so its start is counted), then the destroy. Figures only, never pass/fail.
 */
export async function benchSimDemo(log: (line: string) => void): Promise<Record<string, unknown>> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const hosts = require("../sim/hosts") as typeof import("../sim/hosts");
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const engine = require("../sim/engine") as typeof import("../sim/engine");
  const cli = path.join(hosts.REPO, "scripts/testbed.js");
  const timed = (...args: string[]) => {
    const t0 = Date.now();
    const r = spawnSync("node", [cli, ...args], { encoding: "utf8", timeout: 300_000 });
    const ms = Date.now() - t0;
    // reset's exit 1 is its pre-flight's verdict on this machine's etcds (figures are what is asked for here).
    if (r.status !== 0 && !(args[0] === "reset" && r.status === 1))
      throw new Error(`${args.join(" ")} exited ${r.status}: ${r.stderr.trim() || r.stdout.trim()}`);
    return { ms, status: r.status };
  };

  await engine.destroy().catch(() => undefined);
  hosts.simDown();
  hosts.simUp();
  log("sim demo: full up on fresh hosts (Karmada and the vAccel pipeline included)...");
  const up = await engine.up();
  const k8s = up.steps.filter((x) => !x.name.includes("/"));
  log(`  up ${s(up.wallMs)} s, ${up.steps.length} steps, ${k8s.length} of them Kubernetes objects or the Release`);
  const release = up.steps.find((x) => x.name === "karmada-chart");
  if (release) log(`  the Karmada Release double: ${s(release.endMs - release.startMs)} s`);

  const backend: number[] = [];
  const dry: number[] = [];
  const reset: number[] = [];
  const resetExit: (number | null)[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    backend.push(timed("backend", "remote", "--stack", "sim").ms);
    dry.push(timed("reset", "--stack", "sim", "--dry-run").ms);
    const r = timed("reset", "--stack", "sim");
    reset.push(r.ms);
    resetExit.push(r.status);
  }
  log(`  backend remote: median ${s(median(backend))} s (${backend.map(s).join(", ")})`);
  log(`  reset --dry-run: median ${s(median(dry))} s (${dry.map(s).join(", ")})`);
  log(`  reset: median ${s(median(reset))} s (${reset.map(s).join(", ")}), exits ${resetExit.join(", ")}`);
  const d0 = Date.now();
  const deletes = await engine.destroy();
  const destroyMs = Date.now() - d0;
  log(`  destroy ${s(destroyMs)} s, ${deletes.length} deletes`);
  hosts.simDown();
  return {
    upS: up.wallMs / 1000,
    steps: up.steps.length,
    releaseS: release ? (release.endMs - release.startMs) / 1000 : undefined,
    backendRemoteS: backend.map((x) => x / 1000),
    resetDryRunS: dry.map((x) => x / 1000),
    resetS: reset.map((x) => x / 1000),
    resetExit,
    destroyS: destroyMs / 1000,
  };
}
