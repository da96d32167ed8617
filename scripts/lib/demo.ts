/**
 * The vAccel demo as the commands `backend` and `reset` see it through the Karmada API: where each object of the
 * pipeline lives, how ready the workloads are by the status Karmada aggregates onto the resource templates, and what
 * differs between the objects the stack declares and those the API holds. Pure functions, except connectDemo.
 */
import * as fs from "node:fs";
import { CliError } from "../cli";
import type { TestbedSpec } from "../../components/spec";
import { isClusterReady } from "../../components/karmada/join";
import { type PipelineArgs, type Pipeline, pipelineArgs, pipelineObjects } from "../../components/vaccel/objects";
import { clusterOfHost } from "../../components/vaccel/validate";
import {
  ApiError,
  ApiUnreachable,
  type KubeClient,
  type KubeObject,
  kubeClient,
  kubeTarget,
  objectPath,
} from "./kubeClient";
import { type StackOutputs, stackOutputs, stringOutput } from "./stackOutputs";

/** The stack output holding the Karmada API kubeconfig (server https://<karmada host>:<apiNodePort>). */
export const KARMADA_KUBECONFIG_OUTPUT = "karmadaKubeconfig";
/** How often a wait reads the status again: Karmada's aggregation is event-driven, a second is plenty. */
export const POLL_INTERVAL_MS = 500;

/**
 * The pipeline's arguments as the program derives them from the spec (components/testbed.ts): the member is the GPU
 * node's cluster (the spec's rules put the client node in the same member).
 */
export function pipelineArgsOf(spec: TestbedSpec): PipelineArgs {
  const v = spec.vaccel;
  if (v === undefined || spec.karmada === undefined)
    throw new CliError("this stack has no vAccel demo: its spec needs both testbed:karmada and testbed:vaccel");
  const member = clusterOfHost(spec.clusters, v.gpuNode);
  if (member === undefined) throw new CliError(`vaccel.gpuNode ${v.gpuNode} is in no cluster of the stack`);
  return pipelineArgs(v, member);
}

/** The plural resource name of each kind the pipeline holds (what discovery would say; these are fixed). */
const RESOURCES: Record<string, string> = {
  Namespace: "namespaces",
  ConfigMap: "configmaps",
  Deployment: "deployments",
  Service: "services",
  PropagationPolicy: "propagationpolicies",
  Cluster: "clusters",
};

export interface ObjectLike {
  apiVersion: string;
  kind: string;
  metadata?: { name?: string; namespace?: string };
}

/** The URL path of an object of the pipeline (or a Cluster), optionally of a subresource. */
export function pathOf(o: ObjectLike, sub?: string): string {
  const resource = RESOURCES[o.kind];
  if (resource === undefined) throw new Error(`no resource name known for kind ${o.kind}`);
  return objectPath(
    { apiVersion: o.apiVersion, resource, namespace: o.metadata?.namespace, name: o.metadata?.name ?? "" },
    sub,
  );
}

/** kind namespace/name, for messages. */
export function describeObject(o: ObjectLike): string {
  const ns = o.metadata?.namespace;
  return `${o.kind} ${ns === undefined ? "" : `${ns}/`}${o.metadata?.name ?? ""}`;
}

export function clusterPath(member: string): string {
  return pathOf({ apiVersion: "cluster.karmada.io/v1alpha1", kind: "Cluster", metadata: { name: member } });
}

/**
 * Where a Deployment's rollout stands by its status, as `kubectl rollout status` judges it
 * (kubectl v0.31.4 pkg/polymorphichelpers/rollout_status.go:75-91): the generation observed, every replica updated,
 * no old replica left, every updated one available. On a Karmada resource template the status is Karmada's
 * aggregate (pkg/resourceinterpreter/default/native/aggregatestatus.go:60-121 at v1.13.0): observedGeneration
 * becomes the template's generation only once every member runs that generation, and it carries no conditions, so
 * kubectl's progress-deadline check (a condition) has nothing to read here; the wait's bound stands in for it.
 */
export function rolloutState(d: KubeObject): { done: boolean; message: string } {
  const generation: number = d.metadata?.generation ?? 0;
  const s = d.status ?? {};
  const want: number = d.spec?.replicas ?? 1;
  const observed: number = s.observedGeneration ?? 0;
  const updated: number = s.updatedReplicas ?? 0;
  const replicas: number = s.replicas ?? 0;
  const available: number = s.availableReplicas ?? 0;
  if (observed < generation)
    return { done: false, message: `generation ${generation} not yet observed on every member (at ${observed})` };
  if (updated < want) return { done: false, message: `${updated} of ${want} replicas updated` };
  if (replicas > updated) return { done: false, message: `${replicas - updated} old replicas pending termination` };
  if (available < updated) return { done: false, message: `${available} of ${updated} updated replicas available` };
  return { done: true, message: `generation ${generation} observed, ${want}/${want} replicas updated and available` };
}

/**
 * Why the GPU agent cannot serve, or [] when it can: the member Cluster's Ready condition (as Karmada's
 * pkg/util/cluster.go reads it) and the agent Deployment's aggregated status (generation observed, every replica
 * available).
 */
export function agentProblems(
  member: string,
  cluster: KubeObject | undefined,
  agent: KubeObject | undefined,
  opts: { checkAgent: boolean },
): string[] {
  const problems: string[] = [];
  if (cluster === undefined)
    problems.push(`member cluster ${member} is not registered with Karmada (no Cluster ${member})`);
  else if (!isClusterReady(cluster.status)) {
    const ready = (cluster.status?.conditions ?? []).find((c: { type: string }) => c.type === "Ready");
    problems.push(
      `member cluster ${member} is not Ready${ready === undefined ? " (no Ready condition yet)" : ` (Ready=${ready.status}${ready.reason ? `, ${ready.reason}` : ""}${ready.message ? `: ${ready.message}` : ""})`}`,
    );
  }
  if (!opts.checkAgent) return problems;
  if (agent === undefined) {
    problems.push("the GPU agent's Deployment does not exist in the Karmada API");
    return problems;
  }
  const name = describeObject(agent as ObjectLike);
  const want: number = agent.spec?.replicas ?? 1;
  const s = agent.status ?? {};
  if (want < 1) problems.push(`${name} is scaled to ${want} replicas`);
  else if (agent.status === undefined || Object.keys(s).length === 0)
    problems.push(`${name} has no status aggregated from ${member} yet`);
  else if ((s.observedGeneration ?? 0) < (agent.metadata?.generation ?? 0))
    problems.push(
      `${name}: generation ${agent.metadata?.generation} is not yet running on ${member} (observed ${s.observedGeneration ?? 0})`,
    );
  else if ((s.availableReplicas ?? 0) < want)
    problems.push(`${name}: ${s.availableReplicas ?? 0} of ${want} replicas available`);
  return problems;
}

/** The Karmada API of a stack, from its outputs; messages name its host and port, never the kubeconfig. */
export function karmadaClient(outputs: StackOutputs, stack: string): KubeClient {
  const text = stringOutput(outputs, KARMADA_KUBECONFIG_OUTPUT, stack);
  try {
    return kubeClient(kubeTarget(text, `stack ${stack}: output ${KARMADA_KUBECONFIG_OUTPUT}`));
  } catch (err) {
    throw new CliError((err as Error).message);
  }
}

export const KARMADA_KUBECONFIG_HELP =
  "the Karmada API kubeconfig to use instead of the stack's output karmadaKubeconfig (a file, mode 0600)";

/** The Karmada API of a stack: from a kubeconfig file when one is given, from the stack's outputs otherwise. */
export async function demoClient(stack: string, kubeconfigFile?: string): Promise<KubeClient> {
  if (kubeconfigFile === undefined) return karmadaClient(await stackOutputs(stack), stack);
  let text: string;
  try {
    text = fs.readFileSync(kubeconfigFile, "utf8");
  } catch (err) {
    throw new CliError(`--karmada-kubeconfig: cannot read ${kubeconfigFile}: ${(err as Error).message}`);
  }
  try {
    return kubeClient(kubeTarget(text, `--karmada-kubeconfig ${kubeconfigFile}`));
  } catch (err) {
    throw new CliError((err as Error).message);
  }
}

/**
 * An API failure as the CLI says it (exit 2, no stack trace), with what was (not) done: no answer, a TLS
 * certificate not trusted, or an error status (credentials refused, say). Other errors are returned unchanged.
 */
export function apiFailure(err: unknown, what: string): unknown {
  if (err instanceof ApiUnreachable) {
    const tls = /CERT|SELF_SIGNED|SSL|TLS|EPROTO/i.test(err.cause_);
    return new CliError(
      tls
        ? `the Karmada API at ${err.server}: the TLS connection failed, its certificate is not the one the kubeconfig trusts (${err.cause_}): ${what}`
        : `the Karmada API at ${err.server} does not answer (${err.cause_}): ${what}`,
    );
  }
  if (err instanceof ApiError)
    return new CliError(`the Karmada API refused a request (HTTP ${err.status}: ${err.message}): ${what}`);
  return err;
}

export interface DemoState {
  pipeline: Pipeline;
  configMap?: KubeObject;
  app?: KubeObject;
  agent?: KubeObject;
  cluster?: KubeObject;
}

/** Reads the pipeline's ConfigMap, the two Deployments and the member Cluster (in parallel: four GETs). */
export async function readDemo(client: KubeClient, args: PipelineArgs): Promise<DemoState> {
  const pipeline = pipelineObjects(args);
  const [configMap, app, agent, cluster] = await Promise.all([
    client.get(pathOf(pipeline.configMap)),
    client.get(pathOf(pipeline.app)),
    client.get(pathOf(pipeline.agent)),
    client.get(clusterPath(args.member)),
  ]);
  return { pipeline, configMap, app, agent, cluster };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Polls a Deployment until its rollout is done or `timeoutMs` passes; returns the last object and whether it was
 * done. The API failing half-way is thrown (ApiUnreachable), not waited out.
 */
export async function waitRollout(
  client: KubeClient,
  path: string,
  timeoutMs: number,
  onState?: (message: string) => void,
): Promise<{ done: boolean; last: KubeObject | undefined; message: string }> {
  const deadline = Date.now() + timeoutMs;
  let last: KubeObject | undefined;
  let message = "not read yet";
  for (;;) {
    last = await client.get(path);
    if (last === undefined) message = "the Deployment is gone";
    else {
      const state = rolloutState(last);
      if (state.message !== message) onState?.(state.message);
      message = state.message;
      if (state.done) return { done: true, last, message };
    }
    if (Date.now() >= deadline) return { done: false, last, message };
    await sleep(Math.min(POLL_INTERVAL_MS, Math.max(0, deadline - Date.now())));
  }
}
