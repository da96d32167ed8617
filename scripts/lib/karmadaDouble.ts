/**
 * A bare kube-apiserver (scripts/lib/kubeApiServer.ts) made to serve as Karmada's API for the demo
 * commands, with Karmada v1.13.0's kinds installed, and a double of the two Karmada controllers whose effects the
 * commands read: the cluster status controller (the member Cluster's Ready condition) and the status aggregation
 * onto resource templates (a Deployment's .status). Nothing here runs a member cluster: the member's Deployment
 * status is played step by step as a Recreate rollout goes, and aggregated by the Karmada controllers double's own
 * rule (scripts/sim/karmada/status.ts). This in-process member is the demo tests' harness; the double itself, run
 * against real member clusters, is scripts/sim/karmada/controllers.ts. Used by the tests and by `npm run bench`
 * (never by the program).
 */
import { randomUUID } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";
import type { KubeApiServer } from "./kubeApiServer";
import { clusterPath, pathOf } from "./demo";
import { KARMADA_CLUSTER_NAMESPACE, controlPlaneObjects } from "../../components/karmada/join";
import { type PipelineArgs, pipelineObjects } from "../../components/vaccel/objects";
import { type MemberDeploymentStatus, readyCondition, writeAggregatedStatus } from "../sim/karmada/status";

export { type MemberDeploymentStatus, aggregateDeploymentStatus, readyCondition } from "../sim/karmada/status";

const FIXTURES = path.join(__dirname, "../../components/karmada/fixtures");
const CLUSTER_DEFINITION = "com.github.karmada-io.karmada.pkg.apis.cluster.v1alpha1.Cluster";
const QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity";

/* eslint-disable @typescript-eslint/no-explicit-any -- schemas and API objects are arbitrary JSON */

/**
 * A structural schema from a swagger definition: every $ref inlined, the keys a CRD schema does not take dropped
 * (descriptions, defaults, patch strategies), a Quantity as the int-or-string controller-gen makes of it.
 */
function structural(node: any, definitions: Record<string, any>, depth = 0): any {
  if (depth > 30) throw new Error("swagger definitions nest deeper than 30: a cycle");
  if (Array.isArray(node)) return node.map((x) => structural(x, definitions, depth + 1));
  if (node === null || typeof node !== "object") return node;
  if (typeof node.$ref === "string") {
    const name = node.$ref.replace("#/definitions/", "");
    if (name === QUANTITY)
      return { "x-kubernetes-int-or-string": true, anyOf: [{ type: "integer" }, { type: "string" }] };
    return structural(definitions[name], definitions, depth + 1);
  }
  const out: Record<string, any> = {};
  for (const [k, v] of Object.entries(node)) {
    if (["description", "default", "x-kubernetes-group-version-kind"].includes(k)) continue;
    if (k.startsWith("x-kubernetes-patch-")) continue;
    out[k] =
      k === "properties"
        ? mapValues(v as Record<string, any>, definitions, depth)
        : structural(v, definitions, depth + 1);
  }
  return out;
}

function mapValues(props: Record<string, any>, definitions: Record<string, any>, depth: number) {
  return Object.fromEntries(Object.entries(props).map(([k, v]) => [k, structural(v, definitions, depth + 1)]));
}

/**
 * A CustomResourceDefinition serving `cluster.karmada.io/v1alpha1` Cluster, made from the OpenAPI of Karmada
 * v1.13.0 (fixtures/swagger.json). Karmada serves Cluster from karmada-aggregated-apiserver and ships no CRD for it
 * (fixtures/README.md), so a bare kube-apiserver can serve it only this way: same schema, cluster-scoped, with a
 * status subresource (the cluster status controller writes status alone: cluster_status_controller.go:302-330).
 * The aggregated server's Go validation (name length, syncMode) is not in it; the program's builders check those.
 */
export function clusterCrd(): object {
  const swagger = JSON.parse(fs.readFileSync(path.join(FIXTURES, "swagger.json"), "utf8")) as {
    definitions: Record<string, any>;
  };
  const schema = structural(swagger.definitions[CLUSTER_DEFINITION], swagger.definitions);
  // A CRD's root metadata may only be an object: the API server validates ObjectMeta itself.
  schema.properties.metadata = { type: "object" };
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: "clusters.cluster.karmada.io" },
    spec: {
      group: "cluster.karmada.io",
      scope: "Cluster",
      names: { plural: "clusters", singular: "cluster", kind: "Cluster", listKind: "ClusterList" },
      versions: [
        {
          name: "v1alpha1",
          served: true,
          storage: true,
          schema: { openAPIV3Schema: schema },
          subresources: { status: {} },
        },
      ],
    },
  };
}

/** Installs the Karmada kinds the demo commands touch: PropagationPolicy (vendored CRD) and Cluster. */
export async function installKarmadaKinds(api: KubeApiServer): Promise<void> {
  await api.installCrd(
    parse(fs.readFileSync(path.join(FIXTURES, "policy.karmada.io_propagationpolicies.yaml"), "utf8")),
  );
  await api.installCrd(clusterCrd() as { metadata: { name: string } });
}

/**
 * What Karmada writes onto a PropagationPolicy and the resource templates it selects, so that tests meet objects
 * carrying it: the policy's permanent-id label and finalizer (its mutating webhook on create,
 * pkg/webhook/propagationpolicy/mutating.go:94-97), then on each template the same label and the policy's name and
 * namespace as annotations (the detector's claim, pkg/detector/claim.go:43-52, written by an Update,
 * detector.go:693-707).
 */
export async function claimForPolicy(api: KubeApiServer, policyPath: string, templatePaths: string[]): Promise<void> {
  const id = randomUUID();
  const policy = await api.request("PATCH", policyPath, {
    metadata: {
      labels: { "propagationpolicy.karmada.io/permanent-id": id },
      finalizers: ["karmada.io/propagation-policy-controller"],
    },
  });
  if (policy.status !== 200) throw new Error(`claim ${policyPath}: HTTP ${policy.status}: ${policy.body?.message}`);
  for (const p of templatePaths) {
    const r = await api.request("PATCH", p, {
      metadata: {
        labels: { "propagationpolicy.karmada.io/permanent-id": id },
        annotations: {
          "propagationpolicy.karmada.io/namespace": policy.body.metadata.namespace,
          "propagationpolicy.karmada.io/name": policy.body.metadata.name,
        },
      },
    });
    if (r.status !== 200) throw new Error(`claim ${p}: HTTP ${r.status}: ${r.body?.message}`);
  }
}

/** Time between the member's rollout steps: short, as the double stands for the member and not for a Pi's speed. */
export const DEFAULT_STEP_MS = 150;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface KarmadaDouble {
  /** Whether the member's pods of this Deployment become available (false: they stay unready, as a crashing pod). */
  setHealthy(deploymentPath: string, healthy: boolean): void;
  /** Resolves when every watched Deployment's member status is of its template's current generation. */
  settled(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Plays one member cluster running the watched Deployments, and Karmada writing their aggregated status: whenever a
 * template's generation changes, the member syncs it and goes through a Recreate rollout of `replicas` pods
 * (old pods scaled away, new ones created, then ready), and after each member step the aggregate is written to the
 * template's status subresource as Karmada's status controller does it (pkg/controllers/status/common.go:133-167:
 * GET the template, aggregate, skip when equal, UpdateStatus). `stepMs` is the time between member steps.
 */
export function startKarmadaDouble(
  api: KubeApiServer,
  member: string,
  deploymentPaths: string[],
  stepMs = DEFAULT_STEP_MS,
): KarmadaDouble {
  const healthy = new Map(deploymentPaths.map((p) => [p, true]));
  const members = new Map<string, MemberDeploymentStatus | undefined>();
  let running = true;
  let busy = 0;

  const aggregate = async (p: string) => {
    await writeAggregatedStatus(api.request, p, [{ clusterName: member, status: members.get(p) }]);
  };

  const rollout = async (p: string, templateGeneration: number, replicas: number) => {
    const prev = members.get(p);
    const generation = (prev?.generation ?? 0) + 1;
    const base = { generation, resourceTemplateGeneration: templateGeneration, observedGeneration: generation };
    const up = healthy.get(p) ?? true;
    // Recreate (the app's strategy; the agent has one replica): the old ReplicaSet is scaled to zero first.
    const steps: Omit<MemberDeploymentStatus, keyof typeof base>[] = [
      { replicas: 0, updatedReplicas: 0, readyReplicas: 0, availableReplicas: 0, unavailableReplicas: replicas },
      { replicas, updatedReplicas: replicas, readyReplicas: 0, availableReplicas: 0, unavailableReplicas: replicas },
      up
        ? {
            replicas,
            updatedReplicas: replicas,
            readyReplicas: replicas,
            availableReplicas: replicas,
            unavailableReplicas: 0,
          }
        : {
            replicas,
            updatedReplicas: replicas,
            readyReplicas: 0,
            availableReplicas: 0,
            unavailableReplicas: replicas,
          },
    ];
    for (const s of steps) {
      if (!running) return;
      await sleep(stepMs);
      members.set(p, { ...base, ...s });
      await aggregate(p);
    }
  };

  // A pod that stops being ready on the member: the same generation, fewer available replicas.
  const reflectHealth = async (p: string) => {
    const m = members.get(p);
    if (m === undefined) return;
    const up = healthy.get(p) ?? true;
    members.set(p, {
      ...m,
      readyReplicas: up ? m.updatedReplicas : 0,
      availableReplicas: up ? m.updatedReplicas : 0,
      unavailableReplicas: up ? 0 : m.updatedReplicas,
    });
    await aggregate(p);
  };

  const loop = (async () => {
    const seen = new Map<string, { generation: number; healthy: boolean }>();
    while (running) {
      for (const p of deploymentPaths) {
        const t = await api.request("GET", p);
        if (t.status !== 200) continue;
        const g: number = t.body.metadata.generation;
        const h = healthy.get(p) ?? true;
        const last = seen.get(p);
        if (last?.generation === g && last.healthy === h) continue;
        seen.set(p, { generation: g, healthy: h });
        busy++;
        try {
          if (last?.generation === g) await reflectHealth(p);
          else await rollout(p, g, t.body.spec.replicas ?? 1);
        } finally {
          busy--;
        }
      }
      await sleep(50);
    }
  })();

  return {
    setHealthy: (p, h) => {
      healthy.set(p, h);
    },
    settled: async () => {
      for (;;) {
        let all = busy === 0;
        for (const p of deploymentPaths) {
          const t = await api.request("GET", p);
          if (t.status === 200 && members.get(p)?.resourceTemplateGeneration !== t.body.metadata.generation)
            all = false;
        }
        if (all) return;
        await sleep(50);
      }
    },
    stop: async () => {
      running = false;
      await loop;
    },
  };
}

/** The URL of the etcd under a kube-apiserver started by startKubeApiServer (its --etcd-servers), for /metrics. */
export function etcdUrlOf(api: KubeApiServer): string {
  const args = fs.readFileSync(`/proc/${api.pids.apiserver}/cmdline`, "utf8").split("\0");
  const url = args.find((a) => a.startsWith("--etcd-servers="))?.slice("--etcd-servers=".length);
  if (url === undefined) throw new Error("kube-apiserver runs without --etcd-servers");
  return url;
}

/**
 * The demo as the program and Karmada leave it, on a bare kube-apiserver: Karmada's kinds, the pipeline created
 * through the API, the member registered as `karmadactl join` does it and Ready, Karmada's claim on the templates,
 * and the double rolling the two Deployments out. Resolves once the aggregated status shows both rolled out.
 */
export async function seedDemo(api: KubeApiServer, args: PipelineArgs): Promise<KarmadaDouble> {
  await installKarmadaKinds(api);
  const p = pipelineObjects(args);
  for (const obj of [p.namespace, p.configMap, p.agent, p.service, p.app, p.policy]) {
    const r = await api.create(obj);
    if (r.status !== 201) throw new Error(`${obj.kind} ${obj.metadata?.name}: HTTP ${r.status}: ${r.body?.message}`);
  }
  // No member runs: the Secrets' data is made up, the Cluster is the program's.
  const data = { "ca.crt": Buffer.from("ca").toString("base64"), token: Buffer.from("t").toString("base64") };
  const { cluster } = controlPlaneObjects({
    cluster: args.member,
    apiEndpoint: "https://198.19.0.21:6443",
    clusterId: "00000000-0000-0000-0000-000000000001",
    memberToken: data,
    impersonatorToken: data,
  });
  const c = await api.create(cluster);
  if (c.status !== 201) throw new Error(`Cluster ${args.member}: HTTP ${c.status}: ${c.body?.message}`);
  await setClusterReady(api, args.member, true);
  await claimForPolicy(
    api,
    pathOf(p.policy),
    [p.configMap, p.agent, p.service, p.app].map((o) => pathOf(o)),
  );
  const double = startKarmadaDouble(api, args.member, [pathOf(p.agent), pathOf(p.app)]);
  await double.settled();
  return double;
}

/** Writes a member Cluster's Ready condition as Karmada's cluster status controller does (status subresource). */
export async function setClusterReady(api: KubeApiServer, member: string, ready: boolean): Promise<void> {
  const c = (await api.request("GET", clusterPath(member))).body;
  const r = await api.request("PUT", `${clusterPath(member)}/status`, {
    ...c,
    status: { conditions: [readyCondition(ready)] },
  });
  if (r.status !== 200) throw new Error(`status of Cluster ${member}: HTTP ${r.status}: ${r.body?.message}`);
}

/**
 * Joins a kube-apiserver started by startKubeApiServer to the Karmada API as `karmadactl join` registers a member
 * (components/karmada/join.ts): the Secret with the member's admin token and CA (a member's karmada-<cluster>
 * ServiceAccount token needs a token controller, which a bare kube-apiserver lacks), and the Cluster at `endpoint`
 * (defaults to the member's URL; a dead one makes a Cluster that cannot be reached).
 */
export async function joinMember(
  api: KubeApiServer,
  member: KubeApiServer,
  name: string,
  endpoint = member.url,
): Promise<void> {
  const token = (parse(member.kubeconfig) as { users: { user: { token: string } }[] }).users[0].user.token;
  const data = { "ca.crt": Buffer.from(member.caPem).toString("base64"), token: Buffer.from(token).toString("base64") };
  const cp = controlPlaneObjects({
    cluster: name,
    apiEndpoint: endpoint,
    clusterId: randomUUID(),
    memberToken: data,
    impersonatorToken: data,
  });
  const ns = await api.request("GET", `/api/v1/namespaces/${KARMADA_CLUSTER_NAMESPACE}`);
  for (const o of ns.status === 200 ? [cp.secret, cp.cluster] : [cp.namespace, cp.secret, cp.cluster]) {
    const r = await api.create(o);
    if (r.status !== 201) throw new Error(`${o.kind} ${o.metadata?.name}: HTTP ${r.status}: ${r.body?.message}`);
  }
}
