/**
 * The vAccel pipeline (objects.ts) created in the Karmada API and propagated to the member that holds both nodes by
 * its PropagationPolicy. The Deployments there are resource templates: Karmada writes onto them only the status it
 * aggregates from the members (replicas, readyReplicas, updatedReplicas, availableReplicas, unavailableReplicas,
 * observedGeneration; karmada v1.13.0 pkg/resourceinterpreter/default/native/aggregatestatus.go:59-118), no
 * conditions. pulumi-kubernetes' own Deployment await reads the Progressing condition and would never see it, so
 * each Deployment waits (bounded) for what Karmada does write: all its replicas available. The `pulumi.com/waitFor`
 * annotation replaces the built-in await (provider/pkg/await/await.go: "Use our built-in await logic only if the
 * user hasn't specified any await overrides").
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { VaccelSpec } from "../spec/schema";
import { waitAnnotations } from "../karmada/member";
import { pipelineArgs, pipelineObjects } from "./objects";

export { PIPELINE_READY_TIMEOUT_S } from "./timeouts";

/**
 * `testbed backend` and `testbed reset` write these objects too (field manager testbed-cli, merge patches), and
 * pulumi-kubernetes' server-side apply does not force conflicts by default (provider/pkg/await/await.go, patchForce,
 * at the provider module's v4.0.0-20260115033456-f47bc2d6f199: forced only by this annotation, the
 * PULUMI_K8S_ENABLE_PATCH_FORCE variable, or on preview), so the next `pulumi up` that changes a field the CLI last
 * wrote (the backend ConfigMap's data, the app's hash annotation) would fail with a field-manager conflict. The stack
 * declares the demo's start state, as `reset` restores it: its apply wins.
 */
export const PATCH_FORCE_ANNOTATION = { "pulumi.com/patchForce": "true" } as const;

/** An object of pipelineObjects with PATCH_FORCE_ANNOTATION added to its own annotations. */
function forced<T extends { metadata?: object }>(o: T): T {
  const metadata = (o.metadata ?? {}) as { annotations?: Record<string, string> };
  return { ...o, metadata: { ...metadata, annotations: { ...metadata.annotations, ...PATCH_FORCE_ANNOTATION } } };
}

export interface VaccelPipelineArgs {
  /** testbed:vaccel; each Deployment waits spec.readySeconds (its default: PIPELINE_READY_TIMEOUT_S). */
  spec: VaccelSpec;
  /** The member cluster that holds clientNode and gpuNode. */
  member: string;
  /** Provider for the Karmada API. */
  karmada: k8s.Provider;
  /** The member's join (its Cluster object): propagation needs it, and destroy removes the pipeline before it. */
  dependsOn: pulumi.Input<pulumi.Resource>[];
}

export class VaccelPipeline extends pulumi.ComponentResource {
  readonly agent: k8s.apps.v1.Deployment;
  readonly app: k8s.apps.v1.Deployment;
  readonly policy: k8s.apiextensions.CustomResource;

  constructor(name: string, args: VaccelPipelineArgs, opts?: pulumi.ComponentResourceOptions) {
    super("testbed:vaccel:Pipeline", name, {}, opts);
    const { spec } = args;
    const declared = pipelineObjects(pipelineArgs(spec, args.member));
    const p = {
      ...declared,
      namespace: forced(declared.namespace),
      configMap: forced(declared.configMap),
      service: forced(declared.service),
      policy: forced(declared.policy),
      agent: forced(declared.agent),
      app: forced(declared.app),
    };
    const on = { parent: this, provider: args.karmada };
    const ns = new k8s.core.v1.Namespace(`${name}-namespace`, p.namespace, { ...on, dependsOn: args.dependsOn });
    const inNs = { ...on, dependsOn: [ns] };
    const timeout = spec.readySeconds;
    const available = (d: typeof p.agent): k8s.apps.v1.DeploymentArgs => {
      const { spec: deploymentSpec, metadata } = d;
      if (deploymentSpec === undefined) throw new Error(`Deployment ${metadata?.name ?? ""} has no spec`);
      const replicas = deploymentSpec.replicas ?? 1;
      const annotations = {
        ...metadata?.annotations,
        ...waitAnnotations(`jsonpath={.status.availableReplicas}=${replicas}`, timeout),
      };
      // The same JSON under two typings: kubernetes-models' (the builder's, schema-checked) and pulumi-kubernetes'
      // (a quantity is number | string in one, string in the other).
      const pulumiSpec = deploymentSpec as unknown as k8s.types.input.apps.v1.DeploymentSpec;
      return { apiVersion: d.apiVersion, kind: d.kind, metadata: { ...metadata, annotations }, spec: pulumiSpec };
    };
    const configMap = new k8s.core.v1.ConfigMap(`${name}-backend`, p.configMap, inNs);
    const service = new k8s.core.v1.Service(`${name}-agent-service`, p.service, inNs);
    // The policy first: a template no policy selects stays in the Karmada API and never reaches a member, so the
    // Deployments' waits would run out.
    this.policy = new k8s.apiextensions.CustomResource(
      `${name}-policy`,
      { apiVersion: p.policy.apiVersion, kind: p.policy.kind, metadata: p.policy.metadata, spec: p.policy.spec },
      inNs,
    );
    const afterPolicy = { ...on, dependsOn: [ns, this.policy] };
    this.agent = new k8s.apps.v1.Deployment(`${name}-agent`, available(p.agent), afterPolicy);
    // The app reads its backend from the ConfigMap at start, and calls the agent through its Service.
    this.app = new k8s.apps.v1.Deployment(`${name}-app`, available(p.app), {
      ...on,
      dependsOn: [ns, this.policy, configMap, service],
    });
    this.registerOutputs({});
  }
}
