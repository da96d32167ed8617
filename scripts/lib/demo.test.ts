import { describe, expect, it } from "vitest";
import { CliError } from "../cli";
import { ApiError, ApiUnreachable } from "./kubeClient";
import { agentProblems, apiFailure, clusterPath, pathOf, pipelineArgsOf, rolloutState } from "./demo";
import { pipelineObjects } from "../../components/vaccel/objects";
import type { TestbedSpec } from "../../components/spec";

const deployment = (generation: number, status: Record<string, number> | undefined, replicas = 1) => ({
  metadata: { name: "vaccel-rpc-agent", namespace: "vaccel-demo", generation },
  apiVersion: "apps/v1",
  kind: "Deployment",
  spec: { replicas },
  ...(status === undefined ? {} : { status }),
});
const ready = { conditions: [{ type: "Ready", status: "True" }] };

describe("rolloutState (kubectl rollout status on Karmada's aggregated status)", () => {
  it("waits for the generation, then updated, then old replicas gone, then available", () => {
    expect(
      rolloutState(deployment(3, { observedGeneration: 2, replicas: 1, updatedReplicas: 1, availableReplicas: 1 })),
    ).toEqual({
      done: false,
      message: "generation 3 not yet observed on every member (at 2)",
    });
    expect(rolloutState(deployment(3, { observedGeneration: 3, unavailableReplicas: 1 })).message).toBe(
      "0 of 1 replicas updated",
    );
    expect(rolloutState(deployment(3, { observedGeneration: 3, replicas: 2, updatedReplicas: 1 })).message).toBe(
      "1 old replicas pending termination",
    );
    expect(rolloutState(deployment(3, { observedGeneration: 3, replicas: 1, updatedReplicas: 1 })).message).toBe(
      "0 of 1 updated replicas available",
    );
    expect(
      rolloutState(deployment(3, { observedGeneration: 3, replicas: 1, updatedReplicas: 1, availableReplicas: 1 })),
    ).toEqual({
      done: true,
      message: "generation 3 observed, 1/1 replicas updated and available",
    });
  });

  it("a template never aggregated (no status) is not rolled out", () => {
    expect(rolloutState(deployment(1, undefined)).done).toBe(false);
  });
});

describe("agentProblems", () => {
  const healthy = deployment(2, { observedGeneration: 2, replicas: 1, updatedReplicas: 1, availableReplicas: 1 });
  it("is empty when the member is Ready and the agent available", () => {
    expect(agentProblems("edge", { status: ready }, healthy, { checkAgent: true })).toEqual([]);
  });
  it("names the member that is not registered, not Ready, or has no Ready condition yet", () => {
    expect(agentProblems("edge", undefined, healthy, { checkAgent: true })).toEqual([
      "member cluster edge is not registered with Karmada (no Cluster edge)",
    ]);
    expect(
      agentProblems(
        "edge",
        {
          status: {
            conditions: [
              { type: "Ready", status: "Unknown", reason: "ClusterNotReachable", message: "cluster is not reachable" },
            ],
          },
        },
        healthy,
        { checkAgent: true },
      ),
    ).toEqual(["member cluster edge is not Ready (Ready=Unknown, ClusterNotReachable: cluster is not reachable)"]);
    expect(agentProblems("edge", { status: {} }, healthy, { checkAgent: false })).toEqual([
      "member cluster edge is not Ready (no Ready condition yet)",
    ]);
  });
  it("names an agent missing, never aggregated, of an unobserved generation, scaled to zero, or unavailable", () => {
    const p = (agent: ReturnType<typeof deployment> | undefined) =>
      agentProblems("edge", { status: ready }, agent, { checkAgent: true });
    expect(p(undefined)).toEqual(["the GPU agent's Deployment does not exist in the Karmada API"]);
    expect(p(deployment(1, undefined))).toEqual([
      "Deployment vaccel-demo/vaccel-rpc-agent has no status aggregated from edge yet",
    ]);
    expect(p(deployment(3, { observedGeneration: 2, availableReplicas: 1 }))).toEqual([
      "Deployment vaccel-demo/vaccel-rpc-agent: generation 3 is not yet running on edge (observed 2)",
    ]);
    expect(p(deployment(1, { observedGeneration: 1 }, 0))).toEqual([
      "Deployment vaccel-demo/vaccel-rpc-agent is scaled to 0 replicas",
    ]);
    expect(
      p(deployment(1, { observedGeneration: 1, replicas: 1, updatedReplicas: 1, unavailableReplicas: 1 })),
    ).toEqual(["Deployment vaccel-demo/vaccel-rpc-agent: 0 of 1 replicas available"]);
  });
  it("does not look at the agent when it is not needed (backend local)", () => {
    expect(agentProblems("edge", { status: ready }, undefined, { checkAgent: false })).toEqual([]);
  });
});

describe("pipelineArgsOf and pathOf", () => {
  it("takes the member as the GPU node's cluster, as the program does", () => {
    const spec = {
      karmada: { cluster: "mgmt", members: ["edge"] },
      clusters: { mgmt: { server: "karmada-host", agents: [] }, edge: { server: "k3s-cp", agents: ["pi", "jetson"] } },
      vaccel: { clientNode: "pi", gpuNode: "jetson", agentImage: "a:1", appImage: "b:2", port: 8192, backend: "local" },
    } as unknown as TestbedSpec;
    expect(pipelineArgsOf(spec)).toEqual({
      member: "edge",
      clientNode: "pi",
      gpuNode: "jetson",
      agentImage: "a:1",
      appImage: "b:2",
      port: 8192,
      backend: "local",
    });
    expect(() => pipelineArgsOf({ ...spec, vaccel: undefined })).toThrow(
      "this stack has no vAccel demo: its spec needs both testbed:karmada and testbed:vaccel",
    );
  });
  it("builds each object's URL path", () => {
    const p = pipelineObjects({
      member: "edge",
      clientNode: "pi",
      gpuNode: "jetson",
      agentImage: "a:1",
      appImage: "b:2",
      port: 1,
      backend: "local",
    });
    expect(pathOf(p.namespace)).toBe("/api/v1/namespaces/vaccel-demo");
    expect(pathOf(p.configMap)).toBe("/api/v1/namespaces/vaccel-demo/configmaps/vaccel-backend");
    expect(pathOf(p.app, "status")).toBe("/apis/apps/v1/namespaces/vaccel-demo/deployments/object-detection/status");
    expect(pathOf(p.policy)).toBe(
      "/apis/policy.karmada.io/v1alpha1/namespaces/vaccel-demo/propagationpolicies/vaccel-pipeline",
    );
    expect(clusterPath("edge")).toBe("/apis/cluster.karmada.io/v1alpha1/clusters/edge");
  });
});

describe("apiFailure", () => {
  it("says no answer, an untrusted certificate, or a refusal, with what was not done; passes other errors on", () => {
    expect(
      (
        apiFailure(
          new ApiUnreachable("198.19.0.20:32644", "ECONNREFUSED connect ECONNREFUSED"),
          "nothing was changed",
        ) as Error
      ).message,
    ).toBe(
      "the Karmada API at 198.19.0.20:32644 does not answer (ECONNREFUSED connect ECONNREFUSED): nothing was changed",
    );
    expect(
      (apiFailure(new ApiUnreachable("h:1", "DEPTH_ZERO_SELF_SIGNED_CERT self-signed certificate"), "x") as Error)
        .message,
    ).toBe(
      "the Karmada API at h:1: the TLS connection failed, its certificate is not the one the kubeconfig trusts (DEPTH_ZERO_SELF_SIGNED_CERT self-signed certificate): x",
    );
    const refused = apiFailure(new ApiError(401, "Unauthorized", "Unauthorized"), "x");
    expect(refused).toBeInstanceOf(CliError);
    expect((refused as CliError).message).toBe("the Karmada API refused a request (HTTP 401: Unauthorized): x");
    const other = new TypeError("bug");
    expect(apiFailure(other, "x")).toBe(other);
  });
});
