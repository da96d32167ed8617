import { describe, expect, it } from "vitest";
import {
  KARMADA_CLUSTER_NAMESPACE,
  controlPlaneObjects,
  isClusterReady,
  memberSideObjects,
  secretOwnerPatch,
} from "./join";
import { karmadaSchemaErrors, schemaErrors } from "../../test/harness/karmadaSchemas";

const b64 = (s: string) => Buffer.from(s).toString("base64");
const cp = {
  cluster: "edge",
  apiEndpoint: "https://198.18.0.11:6443",
  clusterId: "6f1d3c2a-0000-4000-8000-000000000001",
  memberToken: { "ca.crt": b64("-----BEGIN CERTIFICATE-----\n"), token: b64("member-token") },
  impersonatorToken: { "ca.crt": b64("ca"), token: b64("impersonator-token") },
};

describe("memberSideObjects", () => {
  it("is valid against Kubernetes' OpenAPI, every object", async () => {
    for (const obj of Object.values(memberSideObjects("edge"))) expect(await schemaErrors(obj), obj.kind).toEqual([]);
  });

  it("names and labels everything as karmadactl join v1.13.0 does", () => {
    const m = memberSideObjects("edge");
    const system = { "karmada.io/system": "true" };
    expect(m.namespace.metadata).toEqual({ name: "karmada-cluster", labels: system });
    expect(m.serviceAccount.metadata).toEqual({ name: "karmada-edge", namespace: "karmada-cluster", labels: system });
    expect(m.impersonatorServiceAccount.metadata?.name).toBe("karmada-impersonator");
    expect(m.clusterRole.metadata?.name).toBe("karmada-controller-manager:karmada-edge");
    expect(m.clusterRole.rules).toEqual([
      { verbs: ["*"], apiGroups: ["*"], resources: ["*"] },
      { nonResourceURLs: ["*"], verbs: ["get"] },
    ]);
    expect(m.clusterRoleBinding.metadata?.name).toBe("karmada-controller-manager:karmada-edge");
    expect(m.clusterRoleBinding.subjects).toEqual([
      { kind: "ServiceAccount", name: "karmada-edge", namespace: "karmada-cluster" },
    ]);
    expect(m.clusterRoleBinding.roleRef).toEqual({
      apiGroup: "rbac.authorization.k8s.io",
      kind: "ClusterRole",
      name: "karmada-controller-manager:karmada-edge",
    });
    for (const s of [m.tokenSecret, m.impersonatorTokenSecret]) {
      expect(s.type).toBe("kubernetes.io/service-account-token");
      expect(s.metadata?.annotations).toEqual({ "kubernetes.io/service-account.name": s.metadata?.name });
    }
    expect(m.tokenSecret.metadata?.name).toBe("karmada-edge");
  });

  it("refuses a cluster name that cannot name objects", () => {
    expect(() => memberSideObjects("Edge_1")).toThrow(/"Edge_1" is not a Karmada cluster name/);
    expect(() => memberSideObjects("a".repeat(49))).toThrow(/at most 48 characters/);
    expect(() => memberSideObjects("a".repeat(48))).not.toThrow();
  });
});

describe("controlPlaneObjects", () => {
  it("is valid: the Secrets against Kubernetes' OpenAPI, the Cluster against Karmada v1.13.0's", async () => {
    const c = controlPlaneObjects(cp);
    for (const obj of [c.namespace, c.secret, c.impersonatorSecret, c.cluster]) {
      expect(await schemaErrors(obj), obj.kind).toEqual([]);
    }
  });

  it("builds the push-mode Cluster and its two Secrets as join does", () => {
    const c = controlPlaneObjects(cp);
    expect(c.cluster).toEqual({
      apiVersion: "cluster.karmada.io/v1alpha1",
      kind: "Cluster",
      metadata: { name: "edge" },
      spec: {
        id: cp.clusterId,
        syncMode: "Push",
        apiEndpoint: "https://198.18.0.11:6443",
        secretRef: { namespace: KARMADA_CLUSTER_NAMESPACE, name: "edge" },
        impersonatorSecretRef: { namespace: KARMADA_CLUSTER_NAMESPACE, name: "edge-impersonator" },
      },
    });
    expect(c.secret.data).toEqual({ caBundle: cp.memberToken["ca.crt"], token: cp.memberToken.token });
    expect(c.impersonatorSecret.data).toEqual({ token: cp.impersonatorToken.token });
    expect(c.secret.metadata?.labels).toEqual({ "karmada.io/system": "true" });
  });

  it("keeps insecureSkipTLSVerification only when the kubeconfig asks for it", () => {
    expect(controlPlaneObjects({ ...cp, insecureSkipTLSVerification: true }).cluster.spec).toMatchObject({
      insecureSkipTLSVerification: true,
    });
  });

  it("refuses an unfilled token Secret without quoting any secret", () => {
    expect(() => controlPlaneObjects({ ...cp, memberToken: { "ca.crt": cp.memberToken["ca.crt"] } })).toThrow(
      "Secret karmada-cluster/karmada-edge (token) has no data yet",
    );
    try {
      controlPlaneObjects({ ...cp, impersonatorToken: {} });
    } catch (e) {
      expect((e as Error).message).not.toContain(cp.memberToken.token);
    }
  });

  it("refuses an endpoint that is not https and an empty cluster id", () => {
    expect(() => controlPlaneObjects({ ...cp, apiEndpoint: "http://198.18.0.11:6443" })).toThrow(/is not https:\/\//);
    expect(() => controlPlaneObjects({ ...cp, apiEndpoint: "not a url" })).toThrow(/is not a URL/);
    expect(() => controlPlaneObjects({ ...cp, clusterId: "" })).toThrow(/cluster id is empty/);
  });
});

describe("the Cluster schema check", () => {
  it("rejects what Karmada's API would: a wrong syncMode, a misspelt field, a missing required one", () => {
    const { cluster } = controlPlaneObjects(cp);
    expect(karmadaSchemaErrors({ ...cluster, spec: { ...cluster.spec, syncMode: "Bogus" } } as any)).not.toEqual([]);
    expect(karmadaSchemaErrors({ ...cluster, spec: { ...cluster.spec, apiEndPoint: "x" } } as any).join()).toMatch(
      /apiEndPoint/,
    );
    const noSyncMode: any = { ...cluster.spec };
    delete noSyncMode.syncMode;
    expect(karmadaSchemaErrors({ ...cluster, spec: noSyncMode } as any).join()).toMatch(/syncMode/);
  });
});

describe("secretOwnerPatch and isClusterReady", () => {
  it("makes the Cluster the Secrets' controller", () => {
    expect(secretOwnerPatch("edge", "uid-1").metadata.ownerReferences).toEqual([
      {
        apiVersion: "cluster.karmada.io/v1alpha1",
        kind: "Cluster",
        name: "edge",
        uid: "uid-1",
        controller: true,
        blockOwnerDeletion: true,
      },
    ]);
  });

  it("reads the Ready condition only", () => {
    expect(isClusterReady(undefined)).toBe(false);
    expect(isClusterReady({ conditions: [{ type: "Ready", status: "False" }] })).toBe(false);
    expect(isClusterReady({ conditions: [{ type: "Offline", status: "True" }] })).toBe(false);
    expect(isClusterReady({ conditions: [{ type: "Ready", status: "True" }] })).toBe(true);
  });
});
