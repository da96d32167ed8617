import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import { type MockedResource, setupMocks, unwrap } from "../../test/harness/mocks";
import { isSecretValue } from "../../scripts/lib/programRunner";
import { CLUSTER_READY_TIMEOUT_S, KarmadaMember, TOKEN_TIMEOUT_S } from "./member";
import { karmadaSchemaErrors, schemaErrors } from "../../test/harness/karmadaSchemas";

const b64 = (s: string) => Buffer.from(s).toString("base64");
const memberKubeconfig = `apiVersion: v1
kind: Config
clusters:
  - name: default
    cluster: { server: "https://198.19.0.21:6443", certificate-authority-data: Q0E= }
users:
  - name: default
    user: { token: x }
contexts:
  - name: default
    context: { cluster: default, user: default }
current-context: default
`;

let created: MockedResource[];
beforeAll(() => {
  created = setupMocks((r) => {
    // What the member's API returns: token Secrets filled in by its token controller, kube-system's UID.
    if (r.type === "kubernetes:core/v1:Secret" && r.name.endsWith("-controller-token"))
      return { data: { "ca.crt": b64("member CA"), token: b64("controller-token") } };
    if (r.type === "kubernetes:core/v1:Secret" && r.name.endsWith("-impersonator-token"))
      return { data: { "ca.crt": b64("member CA"), token: b64("impersonator-token") } };
    if (r.type === "kubernetes:core/v1:Namespace" && r.name.endsWith("-kube-system"))
      return { metadata: { name: "kube-system", uid: "6f1d3c2a-0000-4000-8000-000000000001" } };
    return {};
  });
});

const byName = (name: string) => created.find((r) => r.name === name);

describe("KarmadaMember", () => {
  let member: KarmadaMember;
  beforeAll(async () => {
    const karmada = new k8s.Provider("karmada-api", { kubeconfig: pulumi.secret("karmada") });
    member = new KarmadaMember("m", { cluster: "edge", kubeconfig: pulumi.secret(memberKubeconfig), karmada });
    await unwrap(member.clusterObject.urn);
  });

  it("creates what karmadactl join creates on the member, valid against Kubernetes' OpenAPI", async () => {
    const kinds = created
      .filter((r) => r.name.startsWith("m-") && !r.name.startsWith("m-karmada") && r.type.startsWith("kubernetes:"))
      .filter((r) => r.name !== "m-kube-system" && r.name !== "m-secret" && r.name !== "m-impersonator-secret")
      .filter((r) => r.name !== "m-cluster")
      .map((r) => `${r.type}::${(r.inputs.metadata as { name?: string } | undefined)?.name}`);
    expect(kinds.sort()).toEqual(
      [
        "kubernetes:core/v1:Namespace::karmada-cluster",
        "kubernetes:core/v1:Secret::karmada-edge",
        "kubernetes:core/v1:Secret::karmada-impersonator",
        "kubernetes:core/v1:ServiceAccount::karmada-edge",
        "kubernetes:core/v1:ServiceAccount::karmada-impersonator",
        "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole::karmada-controller-manager:karmada-edge",
        "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding::karmada-controller-manager:karmada-edge",
      ].sort(),
    );
    for (const r of created.filter((x) => /^m-(namespace|.*-sa|.*-token|role|role-binding)$/.test(x.name)))
      expect(await schemaErrors(r.inputs as { apiVersion: string; kind: string }), r.name).toEqual([]);
  });

  it("waits, bounded, for the member's token controller to fill in each token Secret", () => {
    for (const name of ["m-controller-token", "m-impersonator-token"]) {
      const annotations = (byName(name)?.inputs.metadata as { annotations: Record<string, string> }).annotations;
      expect(annotations).toMatchObject({
        "kubernetes.io/service-account.name": expect.any(String),
        "pulumi.com/waitFor": "jsonpath={.data.token}",
        "pulumi.com/timeoutSeconds": String(TOKEN_TIMEOUT_S),
      });
    }
  });

  it("registers the Cluster in push mode with the member's endpoint, kube-system UID and tokens, and waits for Ready", async () => {
    const cluster = byName("m-cluster")!.inputs as Record<string, unknown>;
    expect(cluster).toMatchObject({
      apiVersion: "cluster.karmada.io/v1alpha1",
      kind: "Cluster",
      metadata: {
        name: "edge",
        annotations: {
          "pulumi.com/waitFor": "condition=Ready",
          "pulumi.com/timeoutSeconds": String(CLUSTER_READY_TIMEOUT_S),
        },
      },
      spec: {
        id: "6f1d3c2a-0000-4000-8000-000000000001",
        syncMode: "Push",
        apiEndpoint: "https://198.19.0.21:6443",
        secretRef: { namespace: "karmada-cluster", name: "edge" },
        impersonatorSecretRef: { namespace: "karmada-cluster", name: "edge-impersonator" },
      },
    });
    expect(await karmadaSchemaErrors(cluster as { apiVersion: string; kind: string })).toEqual([]);
    // Names and ids only: not stored as a secret, so a diff shows them.
    expect(isSecretValue(cluster.spec)).toBe(false);
  });

  it("copies the member's tokens and CA into the Karmada API's Secrets, as secrets", async () => {
    const secret = byName("m-secret")!.inputs;
    expect(secret.metadata).toEqual({
      name: "edge",
      namespace: "karmada-cluster",
      labels: { "karmada.io/system": "true" },
    });
    // The data reaches Pulumi wrapped as a secret (sdk/nodejs/runtime/rpc.ts), so its state keeps it encrypted.
    expect(isSecretValue(secret.data)).toBe(true);
    expect((secret.data as { value: unknown }).value).toEqual({
      caBundle: b64("member CA"),
      token: b64("controller-token"),
    });
    const impersonator = byName("m-impersonator-secret")!.inputs;
    expect(impersonator.metadata).toMatchObject({ name: "edge-impersonator", namespace: "karmada-cluster" });
    expect(isSecretValue(impersonator.data)).toBe(true);
    expect((impersonator.data as { value: unknown }).value).toEqual({ token: b64("impersonator-token") });
    const secrets = created.filter((r) => r.type === "kubernetes:core/v1:Secret");
    expect(secrets.length).toBe(4);
  });

  it("takes both waits' bounds from its args (testbed:karmada.timeouts), which reach the annotations", async () => {
    const karmada = new k8s.Provider("karmada-api-o", { kubeconfig: pulumi.secret("karmada") });
    const other = new KarmadaMember("o", {
      cluster: "far",
      kubeconfig: pulumi.secret(memberKubeconfig),
      karmada,
      tokenTimeoutSeconds: 45,
      readyTimeoutSeconds: 900,
    });
    await unwrap(other.clusterObject.urn);
    const annotations = (name: string) =>
      (byName(name)?.inputs.metadata as { annotations: Record<string, string> }).annotations;
    for (const name of ["o-controller-token", "o-impersonator-token"])
      expect(annotations(name)).toMatchObject({
        "pulumi.com/waitFor": "jsonpath={.data.token}",
        "pulumi.com/timeoutSeconds": "45",
      });
    expect(annotations("o-cluster")).toEqual({
      "pulumi.com/waitFor": "condition=Ready",
      "pulumi.com/timeoutSeconds": "900",
    });
  });

  it("talks to the member through a provider on its kubeconfig, which is secret", () => {
    const provider = byName("m-api")!;
    expect(provider.type).toBe("pulumi:providers:kubernetes");
    expect(isSecretValue(provider.inputs.kubeconfig)).toBe(true);
  });
});
