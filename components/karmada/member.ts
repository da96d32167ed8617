/**
 * One member cluster joined to Karmada in push mode, as `karmadactl join` does (join.ts has the objects and their
 * upstream sources): the credentials on the member, through a provider on the member's kubeconfig; the Secrets and
 * the Cluster in the Karmada API, through the Karmada provider. Every object is a Pulumi resource, so destroy
 * deletes the Cluster first, then its Secrets, then the member's side.
 *
 * Two waits, both bounded, through pulumi-kubernetes' `pulumi.com/waitFor` annotation (provider/pkg/metadata/
 * overrides.go, ReadyCondition): the member's token Secrets until its token controller filled them in (join's
 * WaitForServiceAccountSecretCreation, pkg/util/serviceaccount.go:92), and the Cluster until Karmada's cluster status
 * controller reports it Ready (pkg/util/cluster.go:91-93 reads the same condition).
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { kubeconfigServer } from "./kubeconfig";
import { type TokenSecretData, controlPlaneObjects, memberSideObjects } from "./join";
import { CLUSTER_READY_TIMEOUT_S, TOKEN_TIMEOUT_S } from "./timeouts";

export { CLUSTER_READY_TIMEOUT_S, TOKEN_TIMEOUT_S };

/** The annotations that make pulumi-kubernetes wait (bounded) for `waitFor` after it creates or updates an object. */
export function waitAnnotations(waitFor: string, timeoutSeconds: number): Record<string, string> {
  return { "pulumi.com/waitFor": waitFor, "pulumi.com/timeoutSeconds": String(timeoutSeconds) };
}

export interface KarmadaMemberArgs {
  /** The member's cluster name (spec), which is also its Cluster's name in Karmada. */
  cluster: string;
  /** Admin kubeconfig of the member, server reachable from here and from Karmada (secret). */
  kubeconfig: pulumi.Input<string>;
  /** Provider for the Karmada API (server https://<host>:<apiNodePort>). */
  karmada: k8s.Provider;
  /** What the member's side waits for (its nodes Ready). Defaults to none. */
  memberReady?: pulumi.Input<pulumi.Resource>[];
  /** What the Karmada side waits for (Karmada's Release). Defaults to none. */
  karmadaReady?: pulumi.Input<pulumi.Resource>[];
  /**
   * Bound on each service account's token Secret being filled in (karmada.timeouts.memberServiceAccountSeconds).
   * Defaults to TOKEN_TIMEOUT_S.
   */
  tokenTimeoutSeconds?: number;
  /** Bound on the Cluster turning Ready (karmada.timeouts.memberReadySeconds). Defaults to CLUSTER_READY_TIMEOUT_S. */
  readyTimeoutSeconds?: number;
}

export class KarmadaMember extends pulumi.ComponentResource {
  /** The Cluster object in the Karmada API; created once the member is Ready. */
  readonly clusterObject: k8s.apiextensions.CustomResource;
  readonly provider: k8s.Provider;

  constructor(name: string, args: KarmadaMemberArgs, opts?: pulumi.ComponentResourceOptions) {
    super("testbed:karmada:Member", name, {}, opts);
    const { cluster } = args;
    const member = memberSideObjects(cluster);
    const deps = args.memberReady ?? [];
    this.provider = new k8s.Provider(`${name}-api`, { kubeconfig: pulumi.secret(args.kubeconfig) }, { parent: this });
    const onMember = { parent: this, provider: this.provider };

    // The member's side (credential.go:56-133), in join's order.
    const ns = new k8s.core.v1.Namespace(`${name}-namespace`, member.namespace, { ...onMember, dependsOn: deps });
    const tokenTimeout = args.tokenTimeoutSeconds ?? TOKEN_TIMEOUT_S;
    const tokenOf = (id: string, sa: typeof member.serviceAccount, secret: typeof member.tokenSecret) => {
      const account = new k8s.core.v1.ServiceAccount(`${name}-${id}-sa`, sa, { ...onMember, dependsOn: [ns] });
      const annotations = {
        ...secret.metadata?.annotations,
        ...waitAnnotations("jsonpath={.data.token}", tokenTimeout),
      };
      return new k8s.core.v1.Secret(
        `${name}-${id}-token`,
        { ...secret, metadata: { ...secret.metadata, annotations } },
        { ...onMember, dependsOn: [account], additionalSecretOutputs: ["data"] },
      );
    };
    const impersonatorToken = tokenOf(
      "impersonator",
      member.impersonatorServiceAccount,
      member.impersonatorTokenSecret,
    );
    const memberToken = tokenOf("controller", member.serviceAccount, member.tokenSecret);
    const role = new k8s.rbac.v1.ClusterRole(`${name}-role`, member.clusterRole, { ...onMember, dependsOn: deps });
    const binding = new k8s.rbac.v1.ClusterRoleBinding(`${name}-role-binding`, member.clusterRoleBinding, {
      ...onMember,
      dependsOn: [role, memberToken],
    });
    // The cluster id: the UID of the member's kube-system namespace (pkg/util/cluster.go:203-209).
    const kubeSystem = k8s.core.v1.Namespace.get(`${name}-kube-system`, "kube-system", {
      ...onMember,
      dependsOn: deps,
    });

    // The Karmada side (credential.go:136-212, join.go:266-301). No owner references on the Secrets (join's
    // secretOwnerPatch): Pulumi deletes them itself, after the Cluster, and a garbage collector racing it would
    // turn that delete into a failure.
    const objects = pulumi
      .all([args.kubeconfig, kubeSystem.metadata.uid, memberToken.data, impersonatorToken.data])
      .apply(([kubeconfig, uid, token, impersonator]) =>
        controlPlaneObjects({
          cluster,
          apiEndpoint: kubeconfigServer(kubeconfig, `member ${cluster} kubeconfig`),
          clusterId: uid,
          memberToken: (token ?? {}) as TokenSecretData,
          impersonatorToken: (impersonator ?? {}) as TokenSecretData,
        }),
      );
    const onKarmada = { parent: this, provider: args.karmada };
    const karmadaNs = new k8s.core.v1.Namespace(`${name}-karmada-namespace`, member.namespace, {
      ...onKarmada,
      dependsOn: args.karmadaReady ?? [],
    });
    // Names and labels are known now, and are no secret; only the data (tokens, CA) is.
    const layout = controlPlaneObjects({
      cluster,
      apiEndpoint: "https://member.invalid",
      clusterId: "-",
      memberToken: { "ca.crt": "-", token: "-" },
      impersonatorToken: { token: "-" },
    });
    type Layout = typeof layout;
    const secretOf = (id: string, pick: (o: Layout) => Layout["secret"]) =>
      new k8s.core.v1.Secret(
        `${name}-${id}`,
        {
          metadata: pick(layout).metadata ?? {},
          data: pulumi.secret(objects.apply((o) => pick(o).data ?? {})),
        },
        { ...onKarmada, dependsOn: [karmadaNs] },
      );
    const secret = secretOf("secret", (o) => o.secret);
    const impersonatorSecret = secretOf("impersonator-secret", (o) => o.impersonatorSecret);
    const readyTimeout = args.readyTimeoutSeconds ?? CLUSTER_READY_TIMEOUT_S;
    this.clusterObject = new k8s.apiextensions.CustomResource(
      `${name}-cluster`,
      {
        apiVersion: "cluster.karmada.io/v1alpha1",
        kind: "Cluster",
        metadata: { name: cluster, annotations: waitAnnotations("condition=Ready", readyTimeout) },
        // The spec names the Secrets and the member's endpoint and id, no credential: not a secret, though it is
        // computed from the tokens' Outputs.
        spec: pulumi.unsecret(objects.apply((o) => o.cluster.spec)),
      },
      { ...onKarmada, dependsOn: [secret, impersonatorSecret, binding] },
    );
    this.registerOutputs({});
  }
}
