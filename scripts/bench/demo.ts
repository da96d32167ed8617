import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { switchBackend } from "../commands/backend";
import { examine, readPage } from "../commands/doctor";
import { preflightOf, runReset } from "../commands/reset";
import { POLL_INTERVAL_MS } from "../lib/demo";
import { DEFAULT_STEP_MS, etcdUrlOf, installKarmadaKinds, joinMember, seedDemo } from "../lib/karmadaDouble";
import { kubeClient, kubeTarget } from "../lib/kubeClient";
import { kubeApiServerBinary, startKubeApiServer } from "../lib/kubeApiServer";
import { type PipelineArgs, pipelineObjects } from "../../components/vaccel/objects";
import { clusterPath, pathOf } from "../lib/demo";

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

/** The demo commands, then the Karmada controllers double. */
export async function benchDemo(log: (line: string) => void): Promise<Record<string, unknown>> {
  const commands = await benchDemoCommands(log);
  return { ...commands, controllers: await benchKarmadaControllers(log) };
}

/**
 * backend and reset timed against a bare kube-apiserver serving as the Karmada API, with the Karmada double
 * (scripts/lib/karmadaDouble.ts) playing the member's rollout: NOT the simulated testbed and not a real Karmada.
 * The commands run in this process (no node start-up). What they wait for is the double's three member steps of
 * DEFAULT_STEP_MS each, read every POLL_INTERVAL_MS: the figures are the commands' own cost on top of that floor,
 * not what a Pi takes to restart the app.
 */
async function benchDemoCommands(log: (line: string) => void): Promise<Record<string, unknown>> {
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

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls (bounded) until check() is true; returns the seconds it took. */
async function secondsUntil(what: string, check: () => Promise<boolean>, timeoutMs = 120_000): Promise<number> {
  const t0 = Date.now();
  while (!(await check())) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`not within ${timeoutMs / 1000} s: ${what}`);
    await sleep(20);
  }
  return (Date.now() - t0) / 1000;
}

/**
 * The Karmada controllers double (scripts/sim/karmada/controllers.ts) as the sim runs it (`testbed sim
 * karmada-controllers`, its default intervals), between two bare kube-apiservers, one the Karmada API and one the
 * member: how long a joined Cluster takes to turn Ready, the pipeline to reach the member, and a member
 * Deployment's status to show on its template; and the process's resident memory once it has all of it in hand.
 */
export async function benchKarmadaControllers(log: (line: string) => void): Promise<Record<string, unknown>> {
  if (!fs.existsSync(kubeApiServerBinary()))
    return { skipped: `no ${kubeApiServerBinary()}: run scripts/setup-kube-apiserver.sh` };
  const [karmada, member] = await Promise.all([startKubeApiServer(), startKubeApiServer()]);
  const child = spawn(
    process.execPath,
    [path.join(__dirname, "../testbed.js"), "sim", "karmada-controllers", "--kubeconfig", karmada.kubeconfigPath],
    { stdio: "ignore" },
  );
  try {
    await installKarmadaKinds(karmada);
    await joinMember(karmada, member, ARGS.member);
    const clusterReadyS = await secondsUntil("the Cluster Ready", async () => {
      const c = (await karmada.request("GET", clusterPath(ARGS.member))).body;
      return (c?.status?.conditions ?? []).some(
        (x: { type: string; status: string }) => x.type === "Ready" && x.status === "True",
      );
    });
    const p = pipelineObjects(ARGS);
    const t0 = Date.now();
    for (const o of [p.namespace, p.configMap, p.agent, p.service, p.app, p.policy]) {
      const r = await karmada.create(o);
      if (r.status !== 201) throw new Error(`${o.kind}: HTTP ${r.status}: ${r.body?.message}`);
    }
    for (const o of [p.configMap, p.agent, p.service, p.app])
      await secondsUntil(
        `${o.kind} on the member`,
        async () => (await member.request("GET", pathOf(o))).status === 200,
      );
    const propagationS = (Date.now() - t0) / 1000;
    // The member's copy of the template's latest generation, then its status as the deployment controller writes it.
    let copy: Record<string, any> = {}; // eslint-disable-line @typescript-eslint/no-explicit-any
    await secondsUntil("the latest template on the member", async () => {
      const t = (await karmada.request("GET", pathOf(p.app))).body;
      copy = (await member.request("GET", pathOf(p.app))).body;
      return copy.metadata.annotations["resourcetemplate.karmada.io/generation"] === String(t.metadata.generation);
    });
    const status = {
      observedGeneration: copy.metadata.generation,
      replicas: 1,
      updatedReplicas: 1,
      readyReplicas: 1,
      availableReplicas: 1,
    };
    const put = await member.request("PUT", `${pathOf(p.app)}/status`, { ...copy, status });
    if (put.status !== 200) throw new Error(`member status: HTTP ${put.status}`);
    const aggregationS = await secondsUntil(
      "the aggregated status",
      async () => (await karmada.request("GET", pathOf(p.app))).body.status?.availableReplicas === 1,
    );
    const rss = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${child.pid}/status`, "utf8"));
    const figures = {
      note: "testbed sim karmada-controllers with its defaults (1 s rounds, status every 10 s), two bare kube-apiservers",
      clusterReadyS: round(clusterReadyS),
      propagationS: round(propagationS),
      aggregationS: round(aggregationS),
      rssMiB: Math.round(Number(rss?.[1] ?? 0) / 1024),
    };
    log(
      `karmada controllers double (${figures.note}): Cluster Ready ${figures.clusterReadyS} s, pipeline on the member ` +
        `${figures.propagationS} s, status aggregated ${figures.aggregationS} s, RSS ${figures.rssMiB} MiB`,
    );
    return figures;
  } finally {
    child.kill("SIGTERM");
    await Promise.all([karmada.stop(), member.stop()]);
  }
}
