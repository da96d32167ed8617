/**
 * The objects `karmadactl join <name>` (push mode) creates, built as data so the program can send them itself and
 * delete them again. Everything below follows karmada-io/karmada at v1.13.0 (fixtures/README.md names the commit):
 *
 * - pkg/karmadactl/join/join.go:219-257: ReportSecrets = [KubeCredentials, KubeImpersonator]; cluster ID = UID of the
 *   member's kube-system namespace (pkg/util/cluster.go:203-209); credentials obtained from the member, then the
 *   cluster registered in the control plane.
 * - pkg/util/credential.go:56-133 (member side): namespace karmada-cluster (--cluster-namespace default,
 *   pkg/karmadactl/options/global.go:28) labelled karmada.io/system=true (pkg/util/constants.go:63,85);
 *   ServiceAccount karmada-impersonator; ServiceAccount karmada-<cluster> (pkg/util/names/names.go:153-155);
 *   ClusterRole and ClusterRoleBinding karmada-controller-manager:karmada-<cluster> (names.go:158-160) with
 *   ClusterPolicyRules (credential.go:35-50: every verb on every resource, get on every non-resource URL).
 * - pkg/util/serviceaccount.go:92-128: for each ServiceAccount a Secret of the same name, type
 *   kubernetes.io/service-account-token, annotated kubernetes.io/service-account.name, whose token the member's
 *   token controller fills in.
 * - pkg/util/credential.go:136-212 (control-plane side): namespace karmada-cluster (same label); Secret <cluster>-
 *   impersonator (names.go:190-192) with {token}; Secret <cluster> with {caBundle: member's ca.crt, token}
 *   (keys from pkg/apis/cluster/v1alpha1/types.go:247-250); both later owned by the Cluster (controller reference).
 * - join.go:266-301: Cluster <name> with syncMode Push, apiEndpoint = the member kubeconfig's server, id, secretRef,
 *   impersonatorSecretRef, insecureSkipTLSVerification = the kubeconfig's insecure flag.
 *
 * The ClusterRole for impersonation on the member is not created by join: Karmada's unified-auth controller makes
 * it once the Cluster exists.
 */
import type { IClusterRole } from "kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole" with {
  "resolution-mode": "import",
};
import type { IClusterRoleBinding } from "kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding" with {
  "resolution-mode": "import",
};
import type { INamespace } from "kubernetes-models/v1/Namespace" with { "resolution-mode": "import" };
import type { ISecret } from "kubernetes-models/v1/Secret" with { "resolution-mode": "import" };
import type { IServiceAccount } from "kubernetes-models/v1/ServiceAccount" with { "resolution-mode": "import" };

/** Namespace of the join credentials on both sides (karmadactl's --cluster-namespace default). */
export const KARMADA_CLUSTER_NAMESPACE = "karmada-cluster";
/** The label karmadactl puts on everything it creates (pkg/util/constants.go). */
export const KARMADA_SYSTEM_LABELS: Readonly<Record<string, string>> = { "karmada.io/system": "true" };
/** ServiceAccount Karmada impersonates users through (names.GenerateServiceAccountName("impersonator")). */
export const IMPERSONATOR_SERVICE_ACCOUNT = "karmada-impersonator";

const labels = (): Record<string, string> => ({ ...KARMADA_SYSTEM_LABELS });

/**
 * Karmada's limit on Cluster names: a DNS label of at most 48 characters, since it prefixes them with
 * "karmada-es-" for the execution namespace (pkg/apis/cluster/validation/validation.go:36-54 at v1.13.0).
 */
export const CLUSTER_NAME_MAX_LENGTH = 48;

function checkClusterName(name: string): void {
  if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(name) || name.length > CLUSTER_NAME_MAX_LENGTH) {
    throw new Error(
      `karmada member "${name}" is not a Karmada cluster name: a DNS label (lower-case letters, digits and '-') ` +
        `of at most ${CLUSTER_NAME_MAX_LENGTH} characters`,
    );
  }
}

/** karmada-<cluster>: the ServiceAccount Karmada's controllers act as on the member. */
export function memberServiceAccountName(cluster: string): string {
  return `karmada-${cluster}`;
}

/** karmada-controller-manager:karmada-<cluster>: the member's ClusterRole and ClusterRoleBinding. */
export function memberClusterRoleName(cluster: string): string {
  return `karmada-controller-manager:${memberServiceAccountName(cluster)}`;
}

/** <cluster>-impersonator: the control-plane Secret with the impersonator's token. */
export function impersonatorSecretName(cluster: string): string {
  return `${cluster}-impersonator`;
}

function namespace(): INamespace {
  return { apiVersion: "v1", kind: "Namespace", metadata: { name: KARMADA_CLUSTER_NAMESPACE, labels: labels() } };
}

function serviceAccount(name: string): IServiceAccount {
  return {
    apiVersion: "v1",
    kind: "ServiceAccount",
    metadata: { name, namespace: KARMADA_CLUSTER_NAMESPACE, labels: labels() },
  };
}

/** The token Secret serviceaccount.go creates for a ServiceAccount (Kubernetes >= 1.24 no longer makes one). */
function tokenSecret(serviceAccountName: string): ISecret {
  return {
    apiVersion: "v1",
    kind: "Secret",
    type: "kubernetes.io/service-account-token",
    metadata: {
      name: serviceAccountName,
      namespace: KARMADA_CLUSTER_NAMESPACE,
      annotations: { "kubernetes.io/service-account.name": serviceAccountName },
    },
  };
}

export interface MemberSideObjects {
  namespace: INamespace;
  impersonatorServiceAccount: IServiceAccount;
  impersonatorTokenSecret: ISecret;
  serviceAccount: IServiceAccount;
  clusterRole: IClusterRole;
  clusterRoleBinding: IClusterRoleBinding;
  tokenSecret: ISecret;
}

/** What join creates on the member cluster, in its order (credential.go:56-133). */
export function memberSideObjects(cluster: string): MemberSideObjects {
  checkClusterName(cluster);
  const sa = memberServiceAccountName(cluster);
  const role = memberClusterRoleName(cluster);
  return {
    namespace: namespace(),
    impersonatorServiceAccount: serviceAccount(IMPERSONATOR_SERVICE_ACCOUNT),
    impersonatorTokenSecret: tokenSecret(IMPERSONATOR_SERVICE_ACCOUNT),
    serviceAccount: serviceAccount(sa),
    clusterRole: {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRole",
      metadata: { name: role, labels: labels() },
      rules: [
        { verbs: ["*"], apiGroups: ["*"], resources: ["*"] },
        { nonResourceURLs: ["*"], verbs: ["get"] },
      ],
    },
    clusterRoleBinding: {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRoleBinding",
      metadata: { name: role, labels: labels() },
      subjects: [{ kind: "ServiceAccount", name: sa, namespace: KARMADA_CLUSTER_NAMESPACE }],
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: role },
    },
    tokenSecret: tokenSecret(sa),
  };
}

/** The `data` of a filled-in service-account token Secret, as the API returns it (base64 values). */
export interface TokenSecretData {
  "ca.crt"?: string;
  token?: string;
}

export interface ControlPlaneArgs {
  cluster: string;
  /** The member's API as its kubeconfig names it, e.g. https://198.18.0.10:6443. */
  apiEndpoint: string;
  /** UID of the member's kube-system namespace: join refuses a second Cluster with the same id. */
  clusterId: string;
  /** `data` of the member's karmada-<cluster> token Secret. */
  memberToken: TokenSecretData;
  /** `data` of the member's karmada-impersonator token Secret. */
  impersonatorToken: TokenSecretData;
  /** The member kubeconfig's insecure-skip-tls-verify. Defaults to false. */
  insecureSkipTLSVerification?: boolean;
}

export interface KarmadaCluster {
  apiVersion: "cluster.karmada.io/v1alpha1";
  kind: "Cluster";
  metadata: { name: string };
  spec: {
    id: string;
    syncMode: "Push";
    apiEndpoint: string;
    secretRef: { namespace: string; name: string };
    impersonatorSecretRef: { namespace: string; name: string };
    insecureSkipTLSVerification?: boolean;
  };
}

export interface ControlPlaneObjects {
  namespace: INamespace;
  impersonatorSecret: ISecret;
  secret: ISecret;
  cluster: KarmadaCluster;
}

function requireData(value: string | undefined, what: string): string {
  if (value === undefined || value === "") {
    // Names the Secret, never its content.
    throw new Error(`${what} has no data yet: the member's token controller has not filled it in`);
  }
  return value;
}

/** What join creates in the Karmada control plane, in its order (credential.go:136-212, join.go:266-301). */
export function controlPlaneObjects(args: ControlPlaneArgs): ControlPlaneObjects {
  checkClusterName(args.cluster);
  let endpoint: URL;
  try {
    endpoint = new URL(args.apiEndpoint);
  } catch {
    throw new Error(`karmada member "${args.cluster}": API endpoint "${args.apiEndpoint}" is not a URL`);
  }
  if (endpoint.protocol !== "https:") {
    throw new Error(`karmada member "${args.cluster}": API endpoint "${args.apiEndpoint}" is not https://`);
  }
  if (args.clusterId === "") throw new Error(`karmada member "${args.cluster}": the cluster id is empty`);
  const sa = memberServiceAccountName(args.cluster);
  const secretName = args.cluster;
  const impersonatorName = impersonatorSecretName(args.cluster);
  return {
    namespace: namespace(),
    impersonatorSecret: {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: impersonatorName, namespace: KARMADA_CLUSTER_NAMESPACE, labels: labels() },
      data: {
        token: requireData(args.impersonatorToken.token, `Secret karmada-cluster/${IMPERSONATOR_SERVICE_ACCOUNT}`),
      },
    },
    secret: {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: secretName, namespace: KARMADA_CLUSTER_NAMESPACE, labels: labels() },
      data: {
        caBundle: requireData(args.memberToken["ca.crt"], `Secret karmada-cluster/${sa} (ca.crt)`),
        token: requireData(args.memberToken.token, `Secret karmada-cluster/${sa} (token)`),
      },
    },
    cluster: {
      apiVersion: "cluster.karmada.io/v1alpha1",
      kind: "Cluster",
      metadata: { name: args.cluster },
      spec: {
        id: args.clusterId,
        syncMode: "Push",
        apiEndpoint: args.apiEndpoint,
        secretRef: { namespace: KARMADA_CLUSTER_NAMESPACE, name: secretName },
        impersonatorSecretRef: { namespace: KARMADA_CLUSTER_NAMESPACE, name: impersonatorName },
        ...(args.insecureSkipTLSVerification === true ? { insecureSkipTLSVerification: true } : {}),
      },
    },
  };
}

/**
 * The merge patch join applies to both control-plane Secrets once the Cluster exists (credential.go:192-211), so
 * that deleting the Cluster garbage-collects them.
 */
export function secretOwnerPatch(cluster: string, clusterUid: string): { metadata: { ownerReferences: object[] } } {
  return {
    metadata: {
      ownerReferences: [
        {
          apiVersion: "cluster.karmada.io/v1alpha1",
          kind: "Cluster",
          name: cluster,
          uid: clusterUid,
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
  };
}

/** The Ready condition of a Cluster's status, as pkg/util/cluster.go:91-93 reads it. */
export function isClusterReady(status: { conditions?: { type: string; status: string }[] } | undefined): boolean {
  return status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
}
