import type { Command } from "commander";
import { CliError, EXIT, finish } from "../cli";
import { type PipelineArgs, pipelineObjects } from "../../components/vaccel/objects";
import { backendOf } from "../../components/vaccel/backend";
import { K3S_ETCD_METRICS_URL } from "../../components/etcd/doctor";
import { ApiError, type KubeClient, type KubeObject } from "../lib/kubeClient";
import {
  KARMADA_KUBECONFIG_HELP,
  type ObjectLike,
  agentProblems,
  clusterPath,
  demoClient,
  describeObject,
  pathOf,
  pipelineArgsOf,
  sleep,
  apiFailure,
  waitRollout,
} from "../lib/demo";
import { drift, mergePatches } from "../lib/drift";
import { loadStackSpec } from "../lib/hosts";
import { numberOption } from "../lib/options";
import { type StackOptions, loadStackSettings, withStackOptions } from "../lib/stackArgs";
import { BACKEND_WAIT_S } from "./backend";
import { examine, probeStack } from "./doctor";

/** The annotation `kubectl rollout restart` sets on a pod template (kubectl v0.31.4 objectrestarter.go:44-51). */
export const RESTARTED_AT_ANNOTATION = "kubectl.kubernetes.io/restartedAt";
/** Bound on the wait for the app's fresh pods: the same rollout as a backend switch (see BACKEND_WAIT_S). */
export const RESET_WAIT_S = BACKEND_WAIT_S;
/** How much of etcd's logs the pre-flight reads: doctor's default, enough to see the last incident's signs. */
export const PREFLIGHT_LOG_SINCE = "1h";

/**
 * Maps of the pipeline's objects that are the declaration's alone (drift.ts): a stray key there changes what runs.
 * The backend ConfigMap's data; a Deployment's strategy and node selector.
 */
const EXACT: Record<string, string[]> = {
  ConfigMap: ["data"],
  Deployment: ["spec.strategy", "spec.template.spec.nodeSelector"],
};

/**
 * The time as `kubectl rollout restart` writes it: RFC 3339 to the second (Go's time.RFC3339; kubectl writes local
 * time, this writes UTC). Two restarts within one second write the same value, which changes nothing: kubectl
 * then fails ("if restart has already been triggered within the past second", rollout_restart.go:190-191); reset
 * waits for the next second instead.
 */
export function restartStamp(now: Date): string {
  return now.toISOString().replace(/\.\d{3}Z$/, "Z");
}

export interface Change {
  object: ObjectLike;
  action: "create" | "update" | "restart";
  detail: string;
  path: string;
  body: Record<string, unknown>;
}

/**
 * What reset changes, from the declared pipeline and the objects the API holds (undefined: missing), in creation
 * order: each missing object created, each drifted one patched back, and the app's pods restarted (fresh pods, as
 * `kubectl rollout restart` makes them), in the same patch as the app's drift when it has some.
 */
export function plannedChanges(
  declared: ObjectLike[],
  live: (KubeObject | undefined)[],
  app: ObjectLike,
  restartedAt: string,
): Change[] {
  const changes: Change[] = [];
  declared.forEach((d, i) => {
    const l = live[i];
    const path = pathOf(d);
    const isApp = path === pathOf(app);
    const restart = { spec: { template: { metadata: { annotations: { [RESTARTED_AT_ANNOTATION]: restartedAt } } } } };
    if (l === undefined) {
      const body = isApp
        ? mergePatches(d as unknown as Record<string, unknown>, restart)
        : (d as unknown as Record<string, unknown>);
      changes.push({ object: d, action: "create", detail: "missing: create it", path, body });
      return;
    }
    const { paths, patch } = drift(d as unknown as Record<string, unknown>, l, EXACT[d.kind] ?? []);
    if (isApp) {
      const detail = [...(paths.length > 0 ? [`restore ${paths.join(", ")}`] : []), "restart its pods"].join("; ");
      changes.push({
        object: d,
        action: paths.length > 0 ? "update" : "restart",
        detail,
        path,
        body: { metadata: { resourceVersion: l.metadata.resourceVersion }, ...mergePatches(patch, restart) },
      });
    } else if (paths.length > 0)
      changes.push({
        object: d,
        action: "update",
        detail: `restore ${paths.join(", ")}`,
        path,
        body: { metadata: { resourceVersion: l.metadata.resourceVersion }, ...patch },
      });
  });
  return changes;
}

export type Verdict = "ok" | "fail" | "unknown";

export interface Preflight {
  verdict: Verdict;
  lines: string[];
}

/** The worst of several verdicts: a proven problem (fail) over no evidence (unknown) over ok. */
export function worst(verdicts: Verdict[]): Verdict {
  return verdicts.includes("fail") ? "fail" : verdicts.includes("unknown") ? "unknown" : "ok";
}

/**
 * The etcd part of the pre-flight, as `doctor --stack` checks it: every cluster server's etcd (metrics and journal)
 * and, on the Karmada host, Karmada's etcd, judged with the stack's disk limits. A host that cannot be read, or
 * figures that cannot be read, give "unknown", never ok.
 */
export async function etcdPreflight(opts: StackOptions): Promise<Preflight> {
  try {
    const probed = await probeStack({ ...opts, since: PREFLIGHT_LOG_SINCE, metricsUrl: K3S_ETCD_METRICS_URL });
    const report = examine(probed.pages, probed.logs, probed.thresholds, {
      unavailable: probed.unavailable,
      noMetrics: probed.noMetrics,
      certificates: probed.certificates,
    });
    return preflightOf(report);
  } catch (err) {
    if (err instanceof CliError) return { verdict: "unknown", lines: [`etcd: cannot judge: ${err.message}`] };
    throw err;
  }
}

/** A doctor report as pre-flight lines and a verdict. */
export function preflightOf(report: ReturnType<typeof examine>): Preflight {
  const etcd: Verdict = report.health === "healthy" ? "ok" : report.health === "unknown" ? "unknown" : "fail";
  // An expired certificate fails the demo; one that expires within the warning's days still works today, and is
  // said.
  const certs = report.certificates;
  return {
    verdict: worst([etcd, certs?.health === "fail" ? "fail" : "ok"]),
    lines: [
      `etcd: ${report.summary}`,
      ...report.findings.map((f) => `  ${f.level === "fail" ? "✗" : "!"} ${f.message}`),
      ...report.unavailable.map((u) => `  not read: ${u}`),
      ...(certs === undefined
        ? []
        : [
            `Karmada's certificates: ${
              certs.health !== "healthy"
                ? certs.health
                : certs.certificates.length === 0
                  ? "none could be read"
                  : `the soonest to expire has ${Math.min(...certs.certificates.map((c) => c.daysLeft))} days left`
            }`,
            ...certs.findings.map((f) => `  ${f.level === "fail" ? "✗" : "!"} ${f.message}`),
          ]),
    ],
  };
}

export interface ResetResult {
  exitCode: number;
  changes: Change[];
  lines: string[];
  seconds: number;
}

/**
 * Puts the demo back to its start: the stack's backend, every object of the pipeline as declared, fresh app pods;
 * then the pre-flight (the member and the GPU agent Ready by Karmada's status, and `etcd()`). `dryRun` lists the
 * changes and makes none (the pre-flight reads only, and runs too).
 */
export async function runReset(
  client: KubeClient,
  args: PipelineArgs,
  opts: {
    dryRun?: boolean;
    timeoutS?: number;
    etcd: () => Promise<Preflight>;
    out?: (line: string) => void;
    now?: () => Date;
  },
): Promise<ResetResult> {
  const started = Date.now();
  const lines: string[] = [];
  const say = (line: string) => {
    lines.push(line);
    opts.out?.(line);
  };
  const now = opts.now ?? (() => new Date());
  const timeoutS = opts.timeoutS ?? RESET_WAIT_S;
  const p = pipelineObjects(args);
  // The program's order (components/vaccel/pipeline.ts): the policy before the Deployments, so that a template
  // created again is selected at once and does not wait unpropagated.
  const declared: ObjectLike[] = [p.namespace, p.configMap, p.service, p.policy, p.agent, p.app];
  let live: (KubeObject | undefined)[];
  try {
    live = await Promise.all(declared.map((d) => client.get(pathOf(d))));
  } catch (err) {
    throw apiFailure(err, "reset: nothing was changed");
  }
  const liveApp = live[declared.indexOf(p.app)];
  let stamp = restartStamp(now());
  if (liveApp?.spec?.template?.metadata?.annotations?.[RESTARTED_AT_ANNOTATION] === stamp && !opts.dryRun) {
    await sleep(1000 - (now().getTime() % 1000) + 10);
    stamp = restartStamp(now());
  }
  const changes = plannedChanges(declared, live, p.app, stamp);
  const liveBackend = backendOf(live[declared.indexOf(p.configMap)]?.data);
  say(
    `backend: ${liveBackend ?? "neither local nor remote"}${liveBackend === args.backend ? "" : ` -> ${args.backend}`} (the stack declares ${args.backend})`,
  );
  say(opts.dryRun ? "would change (dry run: nothing is changed):" : "changes:");
  for (const c of changes) say(`  ${describeObject(c.object)}: ${c.detail}`);

  if (!opts.dryRun) {
    let made = 0;
    try {
      for (const c of changes) {
        if (c.action === "create") {
          await client.post(pathOf(c.object).replace(/\/[^/]+$/, ""), c.body);
        } else await client.patch(c.path, c.body, "merge");
        made++;
      }
    } catch (err) {
      const done = `reset stopped part-way (${made} of ${changes.length} changes made): run it again`;
      if (err instanceof ApiError && err.status === 409)
        throw new CliError(`reset: another writer changed the objects meanwhile (${err.message}); ${done}`);
      throw apiFailure(err, done);
    }
    say(
      `waiting up to ${timeoutS} s for ${describeObject(p.app)}'s fresh pods on ${args.member}, by the status Karmada aggregates`,
    );
    const waited = await waitRollout(client, pathOf(p.app), timeoutS * 1000, (m) => say(`  ${m}`));
    if (!waited.done) {
      say(`not ready for the demo: the app did not finish rolling out within ${timeoutS} s (last: ${waited.message})`);
      return { exitCode: EXIT.verdict, changes, lines, seconds: (Date.now() - started) / 1000 };
    }
  }

  say("pre-flight:");
  let cluster: KubeObject | undefined;
  let agent: KubeObject | undefined;
  try {
    [cluster, agent] = await Promise.all([client.get(clusterPath(args.member)), client.get(pathOf(p.agent))]);
  } catch (err) {
    throw apiFailure(err, "reset: the pre-flight could not read the GPU agent");
  }
  const problems = agentProblems(args.member, cluster, agent, { checkAgent: true });
  const demo: Preflight =
    problems.length === 0
      ? { verdict: "ok", lines: [`GPU agent: Ready on ${args.member}`] }
      : { verdict: "fail", lines: problems.map((x) => `GPU agent: ${x}`) };
  const etcd = await opts.etcd();
  for (const l of [...demo.lines, ...etcd.lines]) say(`  ${l}`);
  const verdict = worst([demo.verdict, etcd.verdict]);
  const seconds = (Date.now() - started) / 1000;
  if (verdict === "ok")
    say(
      opts.dryRun
        ? `the pre-flight passes; ${changes.length} changes listed, none made (dry run)`
        : `ready for the demo (reset in ${seconds.toFixed(1)} s)`,
    );
  else if (verdict === "fail") say("not ready for the demo: see above");
  else say("cannot judge whether it is ready for the demo: see above");
  return {
    exitCode: verdict === "ok" ? EXIT.ok : verdict === "fail" ? EXIT.verdict : EXIT.badInput,
    changes,
    lines,
    seconds,
  };
}

const EXIT_HELP = `
Exit codes:
  0  ready for the demo: the changes made (or, with --dry-run, listed), the
     app rolled out, the member and the GPU agent Ready, every etcd healthy
  1  not ready for the demo: the app did not roll out in time, the GPU agent
     or its member is not Ready, or an etcd is at risk or sick (as doctor says)
  2  bad input, a Karmada API that does not answer, or cannot judge: an etcd
     host that cannot be read, or etcd figures that cannot be read
`;

export function register(program: Command): void {
  withStackOptions(
    program
      .command("reset")
      .description(
        "put the vAccel demo back to its start in seconds: the stack's backend, every pipeline object as declared, fresh app pods; then a pre-flight check",
      )
      .option("--dry-run", "list what would change and change nothing")
      .option("--timeout <s>", "seconds to wait for the app's fresh pods", String(RESET_WAIT_S))
      .option("--karmada-kubeconfig <file>", KARMADA_KUBECONFIG_HELP)
      .addHelpText("after", EXIT_HELP),
  ).action(async (opts: StackOptions & { dryRun?: boolean; timeout: string; karmadaKubeconfig?: string }) => {
    const timeoutS = numberOption("--timeout", opts.timeout) as number;
    const { stack } = loadStackSettings(opts);
    const args = pipelineArgsOf(loadStackSpec(opts));
    const client = await demoClient(stack, opts.karmadaKubeconfig);
    try {
      const r = await runReset(client, args, {
        dryRun: opts.dryRun,
        timeoutS,
        etcd: () => etcdPreflight({ stack: opts.stack, file: opts.file }),
        out: (line) => process.stdout.write(`${line}\n`),
      });
      finish(r.exitCode);
    } finally {
      client.close();
    }
  });
}
