import * as fs from "node:fs";
import { switchBackend } from "../commands/backend";
import { examine, readPage } from "../commands/doctor";
import { preflightOf, runReset } from "../commands/reset";
import { POLL_INTERVAL_MS } from "../lib/demo";
import { DEFAULT_STEP_MS, etcdUrlOf, seedDemo } from "../lib/karmadaDouble";
import { kubeClient, kubeTarget } from "../lib/kubeClient";
import { kubeApiServerBinary, startKubeApiServer } from "../lib/kubeApiServer";
import type { PipelineArgs } from "../../components/vaccel/objects";

/** Runs of each command; the figures are their median and worst. */
const RUNS = 5;

const ARGS: PipelineArgs = {
  member: "edge",
  clientNode: "pi",
  gpuNode: "jetson",
  agentImage: "registry.example/vaccel-rpc-agent:0.6.1",
  appImage: "registry.example/yolo-vaccel:0.1.0",
  port: 8192,
  backend: "local",
};

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const round = (x: number) => Math.round(x * 1000) / 1000;

/**
 * backend and reset timed against a bare kube-apiserver serving as the Karmada API, with the Karmada double
 * (scripts/lib/karmadaDouble.ts) playing the member's rollout: NOT the simulated testbed and not a real Karmada.
 * The commands run in this process (no node start-up). What they wait for is the double's three member steps of
 * DEFAULT_STEP_MS each, read every POLL_INTERVAL_MS: the figures are the commands' own cost on top of that floor,
 * not what a Pi takes to restart the app.
 */
export async function benchDemo(log: (line: string) => void): Promise<Record<string, unknown>> {
  if (!fs.existsSync(kubeApiServerBinary()))
    return { skipped: `no ${kubeApiServerBinary()}: run scripts/setup-kube-apiserver.sh` };
  const api = await startKubeApiServer();
  const double = await seedDemo(api, ARGS);
  const client = kubeClient(kubeTarget(api.kubeconfig, "bench"));
  const etcd = async () =>
    preflightOf(
      examine([{ source: "bench etcd", text: await readPage(`${etcdUrlOf(api)}/metrics`) }], [], {
        warnMs: 10,
        failMs: 100,
      }),
    );
  try {
    const times: Record<string, number[]> = { backendRemote: [], backendLocal: [], resetDryRun: [], reset: [] };
    for (let i = 0; i < RUNS; i++) {
      for (const [key, target] of [
        ["backendRemote", "remote"],
        ["backendLocal", "local"],
      ] as const) {
        const r = await switchBackend(client, ARGS, target);
        if (r.exitCode !== 0) throw new Error(`backend ${target}: exit ${r.exitCode}:\n${r.lines.join("\n")}`);
        times[key].push(r.seconds);
      }
      await switchBackend(client, ARGS, "remote");
      for (const [key, dryRun] of [
        ["resetDryRun", true],
        ["reset", false],
      ] as const) {
        const t0 = Date.now();
        const r = await runReset(client, ARGS, { dryRun, etcd });
        // The pre-flight judges this machine's disk under the test etcd: a slow disk is a verdict, not a failed run.
        if (r.exitCode === 2 || r.lines.some((l) => l.includes("did not finish rolling out")))
          throw new Error(`reset: exit ${r.exitCode}:\n${r.lines.join("\n")}`);
        times[key].push((Date.now() - t0) / 1000);
      }
    }
    const figures = {
      note: "bare kube-apiserver as the Karmada API with the Karmada double, not the sim; in-process",
      runs: RUNS,
      memberStepMs: DEFAULT_STEP_MS,
      pollIntervalMs: POLL_INTERVAL_MS,
      ...Object.fromEntries(
        Object.entries(times).map(([k, xs]) => [k, { medianS: round(median(xs)), maxS: round(Math.max(...xs)) }]),
      ),
    };
    log(
      `demo commands (${figures.note}; ${RUNS} runs, member steps ${DEFAULT_STEP_MS} ms, polled every ${POLL_INTERVAL_MS} ms):`,
    );
    for (const k of Object.keys(times)) {
      const f = figures[k as keyof typeof figures] as unknown as { medianS: number; maxS: number };
      log(`  ${k.padEnd(14)} median ${f.medianS.toFixed(2)} s  max ${f.maxS.toFixed(2)} s`);
    }
    return figures;
  } finally {
    client.close();
    await double.stop();
    await api.stop();
  }
}
