/**
 * Karmada on the management cluster: the chart installed through @pulumi/kubernetes (no helm binary on the
 * operator's machine: the provider embeds Helm's library) and the Karmada API kubeconfig exported as a secret.
 *
 * helm.v3.Release, not v4.Chart: chart 1.13.0 makes its certificates and the karmada-kubeconfig Secret in a
 * pre-install hook Job (templates/pre-install-job.yaml) and installs Karmada's CRDs in a post-install Job; a
 * Release runs hooks as `helm install` does, while Chart renders templates and leaves hook semantics out.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { KarmadaSpec } from "../spec/schema";
import { karmadaApiKubeconfig } from "./kubeconfig";
import { KARMADA_NAMESPACE, KARMADA_RELEASE, etcdPathError, karmadaHelmValues } from "./values";

export { KARMADA_READY_TIMEOUT_S } from "./timeouts";
/** The Secret the chart's pre-install Job writes with the admin kubeconfig (server inside the cluster). */
export const KARMADA_KUBECONFIG_SECRET = "karmada-kubeconfig";

export interface KarmadaArgs {
  /** testbed:karmada; the Release waits spec.timeouts.releaseSeconds (its default: KARMADA_READY_TIMEOUT_S). */
  spec: KarmadaSpec;
  /** Admin kubeconfig of the management cluster, server reachable from here (secret). */
  hostKubeconfig: pulumi.Input<string>;
  /** Address of the management cluster's server: the API's NodePort is reached there. */
  hostAddress: pulumi.Input<string>;
  /**
   * Node name of that server (k3s --node-name): etcd's hostPath is pinned to it, so etcd writes on the disk the gate
   * measured even when the cluster has agents (karmada/validate.ts).
   */
  etcdNode: string;
  /**
   * What the Release waits for: the mgmt cluster's nodes, and the step that removes etcd's hostPath data on destroy
   * (created before the Release, so deleted after it). Defaults to none.
   */
  dependsOn?: pulumi.Input<pulumi.Resource>[];
}

export class Karmada extends pulumi.ComponentResource {
  /** The Karmada API kubeconfig, server https://<host>:<apiNodePort> (secret). */
  readonly apiKubeconfig: pulumi.Output<string>;
  /** https://<host>:<apiNodePort>. */
  readonly apiUrl: pulumi.Output<string>;
  readonly release: k8s.helm.v3.Release;
  readonly provider: k8s.Provider;

  constructor(name: string, args: KarmadaArgs, opts?: pulumi.ComponentResourceOptions) {
    super("testbed:karmada:Karmada", name, {}, opts);
    const { spec } = args;
    const etcd = etcdPathError(spec.etcdPath, KARMADA_NAMESPACE);
    if (etcd !== undefined) throw new pulumi.ResourceError(etcd, this);

    this.provider = new k8s.Provider(
      `${name}-host`,
      { kubeconfig: pulumi.secret(args.hostKubeconfig) },
      { parent: this },
    );

    this.release = new k8s.helm.v3.Release(
      `${name}-chart`,
      {
        name: KARMADA_RELEASE,
        chart: "karmada",
        version: spec.chartVersion,
        repositoryOpts: { repo: spec.chartRepo },
        namespace: KARMADA_NAMESPACE,
        createNamespace: true,
        values: pulumi
          .output(args.hostAddress)
          .apply((hostAddress) =>
            karmadaHelmValues({ hostAddress, apiNodePort: spec.apiNodePort, etcdNode: args.etcdNode }),
          ),
        timeout: spec.timeouts.releaseSeconds,
        skipAwait: false,
        waitForJobs: true,
      },
      { parent: this, provider: this.provider, dependsOn: args.dependsOn },
    );

    const secret = k8s.core.v1.Secret.get(
      `${name}-kubeconfig`,
      pulumi.interpolate`${this.release.status.namespace}/${KARMADA_KUBECONFIG_SECRET}`,
      { parent: this, provider: this.provider, dependsOn: [this.release] },
    );
    this.apiUrl = pulumi.interpolate`https://${args.hostAddress}:${spec.apiNodePort}`;
    this.apiKubeconfig = pulumi.secret(
      pulumi.all([secret.data, args.hostAddress]).apply(([data, host]) => {
        const encoded = data?.kubeconfig;
        if (encoded === undefined || encoded === "") {
          throw new pulumi.ResourceError(
            `Secret ${KARMADA_NAMESPACE}/${KARMADA_KUBECONFIG_SECRET} has no kubeconfig: the chart's pre-install ` +
              `job did not finish`,
            this,
          );
        }
        return karmadaApiKubeconfig(Buffer.from(encoded, "base64").toString("utf8"), host, spec.apiNodePort);
      }),
    );
    this.registerOutputs({ apiKubeconfig: this.apiKubeconfig, apiUrl: this.apiUrl });
  }
}
