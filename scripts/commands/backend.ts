import type { Command } from "commander";
import { CliError, EXIT, finish } from "../cli";
import { type Backend, backendConfigData, backendConfigHash, backendOf } from "../../components/vaccel/backend";
import { AGENT_NAME, BACKEND_HASH_ANNOTATION, type PipelineArgs } from "../../components/vaccel/objects";
import { ApiError, type KubeClient } from "../lib/kubeClient";
import {
  KARMADA_KUBECONFIG_HELP,
  agentProblems,
  demoClient,
  describeObject,
  pathOf,
  pipelineArgsOf,
  readDemo,
  apiFailure,
  waitRollout,
} from "../lib/demo";
import { loadStackSpec } from "../lib/hosts";
import { numberOption } from "../lib/options";
import { type StackOptions, loadStackSettings, withStackOptions } from "../lib/stackArgs";

/**
 * Bound on the wait for the app to run with the new backend: the Pi stops the old pod (Recreate; its default 30 s
 * grace period is the longest part when the app ignores SIGTERM), starts the new one from an image already pulled,
 * and Karmada reflects the member's status back within seconds (event-driven). 180 s leaves room for a slow Pi.
 */
export const BACKEND_WAIT_S = 180;

/** One line of a backend ConfigMap's data, for before/after (no secrets: plugin names and an address). */
export function describeData(data: Record<string, string> | undefined): string {
  if (data === undefined) return "(no ConfigMap)";
  const keys = Object.keys(data).sort();
  return keys.length === 0 ? "(empty)" : keys.map((k) => `${k}=${data[k]}`).join(" ");
}

/** The name of the backend a ConfigMap's data selects, or what it is when it is neither. */
export function backendName(data: Record<string, string> | undefined): string {
  return backendOf(data) ?? (data === undefined ? "none" : "neither local nor remote (edited by hand)");
}

/** A merge patch turning `from` into exactly `to`: keys of `from` that `to` lacks are removed (null). */
export function dataPatch(from: Record<string, string> | undefined, to: Record<string, string>) {
  const removed = Object.keys(from ?? {}).filter((k) => !(k in to));
  return { ...Object.fromEntries(removed.map((k) => [k, null])), ...to };
}

export interface BackendResult {
  exitCode: number;
  changed: boolean;
  lines: string[];
  seconds: number;
}

/**
 * Switches the app's backend through the Karmada API, as the MLSysOps policy does: the ConfigMap's data, and the
 * app's pod-template annotation so its pods roll (an environment read from a ConfigMap is read only when a container
 * starts). The agent's Deployment is never written. Everything is checked before the first write: the member
 * Ready, and for `remote` the agent available. `out` gets each line as it is printed.
 */
export async function switchBackend(
  client: KubeClient,
  args: PipelineArgs,
  target: Backend,
  opts: { timeoutS?: number; out?: (line: string) => void } = {},
): Promise<BackendResult> {
  const started = Date.now();
  const lines: string[] = [];
  const say = (line: string) => {
    lines.push(line);
    opts.out?.(line);
  };
  const done = (exitCode: number, changed: boolean): BackendResult => ({
    exitCode,
    changed,
    lines,
    seconds: (Date.now() - started) / 1000,
  });
  const timeoutS = opts.timeoutS ?? BACKEND_WAIT_S;
  const server = client.target.hostPort;
  let state;
  try {
    state = await readDemo(client, args);
  } catch (err) {
    throw apiFailure(err, `backend ${target}: nothing was changed`);
  }
  const { pipeline, configMap, app, agent, cluster } = state;
  if (configMap === undefined || app === undefined) {
    const missing = [
      configMap === undefined ? pipeline.configMap : undefined,
      app === undefined ? pipeline.app : undefined,
    ]
      .filter((o) => o !== undefined)
      .map((o) => describeObject(o));
    throw new CliError(
      `the Karmada API at ${server} has no ${missing.join(" and ")}: the pipeline is not deployed (pulumi up, or testbed reset); nothing was changed`,
    );
  }
  const problems = agentProblems(args.member, cluster, agent, { checkAgent: target === "remote" });
  if (problems.length > 0)
    throw new CliError(
      `backend ${target}: the GPU agent is not Ready, so nothing was changed:\n${problems.map((p) => `  ${p}`).join("\n")}`,
    );

  const before: Record<string, string> | undefined = configMap.data;
  const want = backendConfigData(target, AGENT_NAME, args.port);
  const hash = backendConfigHash(want);
  const annotations: Record<string, string> = app.spec?.template?.metadata?.annotations ?? {};
  const dataSame = describeData(before) === describeData(want);
  const hashSame = annotations[BACKEND_HASH_ANNOTATION] === hash;
  say(`before: ${backendName(before)}: ${describeData(before)}`);
  if (dataSame && hashSame) {
    say(`already on ${target}: nothing changed`);
    return done(EXIT.ok, false);
  }

  try {
    if (!dataSame) {
      // The resourceVersion read above is a precondition: a concurrent writer makes this a 409, not a lost update.
      await client.patch(
        pathOf(pipeline.configMap),
        { metadata: { resourceVersion: configMap.metadata.resourceVersion }, data: dataPatch(before, want) },
        "merge",
      );
      say(`changed ${describeObject(pipeline.configMap)}`);
    }
    const patched = hashSame
      ? app
      : await client.patch(
          pathOf(pipeline.app),
          {
            metadata: { resourceVersion: app.metadata.resourceVersion },
            spec: { template: { metadata: { annotations: { [BACKEND_HASH_ANNOTATION]: hash } } } },
          },
          "merge",
        );
    if (!hashSame)
      say(
        `changed ${describeObject(pipeline.app)}: pod template ${BACKEND_HASH_ANNOTATION}=${hash} (generation ${patched.metadata.generation})`,
      );
    say(
      `waiting up to ${timeoutS} s for ${describeObject(pipeline.app)} to run generation ${patched.metadata.generation} on ${args.member}, by the status Karmada aggregates`,
    );
    const waited = await waitRollout(client, pathOf(pipeline.app), timeoutS * 1000, (m) => say(`  ${m}`));
    const after = (await client.get(pathOf(pipeline.configMap)))?.data as Record<string, string> | undefined;
    say(`after: ${backendName(after)}: ${describeData(after)}`);
    if (!waited.done) {
      say(
        `the app did not finish rolling out within ${timeoutS} s (last: ${waited.message}); the backend is changed, the app may still run the old one`,
      );
      return done(EXIT.verdict, true);
    }
    say(`backend ${target} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return done(EXIT.ok, true);
  } catch (err) {
    if (err instanceof ApiError && err.status === 409)
      throw new CliError(
        `backend ${target}: another writer changed the objects meanwhile (${err.message}): run it again`,
      );
    throw apiFailure(
      err,
      `backend ${target} stopped part-way (${lines.filter((l) => l.startsWith("changed")).length} objects changed): run it again`,
    );
  }
}

const EXIT_HELP = `
Exit codes:
  0  the app runs with the backend asked for (or already did: nothing changed)
  1  the backend was changed, but the app did not finish rolling out in time
  2  bad input, a Karmada API that does not answer, a pipeline not deployed,
     or the GPU agent not Ready (its member cluster not Ready, or for remote
     the agent not available): nothing was changed
`;

export function register(program: Command): void {
  withStackOptions(
    program
      .command("backend")
      .argument("<backend>", "local (the Pi's CPU) or remote (the Jetson's GPU through the RPC agent)")
      .description("switch the vAccel app's backend through the Karmada API, without redeploying the agent")
      .option("--timeout <s>", "seconds to wait for the app to roll out", String(BACKEND_WAIT_S))
      .option("--karmada-kubeconfig <file>", KARMADA_KUBECONFIG_HELP)
      .addHelpText("after", EXIT_HELP),
  ).action(async (backend: string, opts: StackOptions & { timeout: string; karmadaKubeconfig?: string }) => {
    if (backend !== "local" && backend !== "remote")
      throw new CliError(`backend: ${JSON.stringify(backend)} is not local or remote`);
    const timeoutS = numberOption("--timeout", opts.timeout) as number;
    const { stack } = loadStackSettings(opts);
    const args = pipelineArgsOf(loadStackSpec(opts));
    const client = await demoClient(stack, opts.karmadaKubeconfig);
    try {
      const r = await switchBackend(client, args, backend, {
        timeoutS,
        out: (line) => process.stdout.write(`${line}\n`),
      });
      finish(r.exitCode);
    } finally {
      client.close();
    }
  });
}
