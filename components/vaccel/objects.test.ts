import { describe, expect, it } from "vitest";
import { BACKEND_HASH_ANNOTATION, pipelineArgs, pipelineObjects } from "./objects";
import { vaccelSchema } from "../spec/schema";
import { backendConfigData, backendConfigHash } from "./backend";
import { coreSchemaErrors, karmadaSchemaErrors, schemaErrors } from "../../test/harness/karmadaSchemas";

const args = {
  member: "edge",
  clientNode: "pi",
  gpuNode: "jetson",
  agentImage: "registry.example/vaccel-rpc-agent:0.6.1",
  appImage: "registry.example/yolo-vaccel@sha256:" + "a".repeat(64),
  port: 8192,
  backend: "local" as const,
};

describe("pipelineObjects", () => {
  it("is valid: core kinds against Kubernetes' OpenAPI, the policy against Karmada v1.13.0's CRD", async () => {
    for (const obj of Object.values(pipelineObjects(args))) expect(await schemaErrors(obj), obj.kind).toEqual([]);
    for (const obj of Object.values(pipelineObjects({ ...args, backend: "remote" }))) {
      expect(await schemaErrors(obj), obj.kind).toEqual([]);
    }
  });

  it("runs the RPC agent on the GPU node with the NVIDIA runtime, listening on the port", () => {
    const pod = pipelineObjects(args).agent.spec!.template.spec!;
    expect(pod.runtimeClassName).toBe("nvidia");
    expect(pod.nodeSelector).toEqual({ "kubernetes.io/hostname": "jetson" });
    expect(pod.containers[0]).toMatchObject({
      image: "registry.example/vaccel-rpc-agent:0.6.1",
      command: ["vaccel-rpc-agent"],
      args: ["-a", "tcp://0.0.0.0:8192"],
      ports: [{ name: "rpc", containerPort: 8192, protocol: "TCP" }],
    });
  });

  it("exposes the agent with a Service the app's RPC address names", () => {
    const p = pipelineObjects({ ...args, backend: "remote" });
    expect(p.service.spec).toEqual({
      type: "ClusterIP",
      selector: { "app.kubernetes.io/name": "vaccel-rpc-agent" },
      ports: [{ name: "rpc", port: 8192, targetPort: "rpc", protocol: "TCP" }],
    });
    expect(p.configMap.data!.VACCEL_RPC_ADDRESS).toBe(`tcp://${p.service.metadata!.name}:8192`);
  });

  it("runs the app on the client node with its whole vAccel environment from the ConfigMap", () => {
    const p = pipelineObjects(args);
    const pod = p.app.spec!.template.spec!;
    expect(pod.nodeSelector).toEqual({ "kubernetes.io/hostname": "pi" });
    expect(pod.runtimeClassName).toBeUndefined();
    expect(pod.containers[0].envFrom).toEqual([{ configMapRef: { name: p.configMap.metadata!.name } }]);
    expect(pod.containers[0].env).toBeUndefined();
  });

  it("rolls the app's pods, not the agent's, when the backend changes", () => {
    const local = pipelineObjects(args);
    const remote = pipelineObjects({ ...args, backend: "remote" });
    const hash = (d: typeof local.app) => d.spec!.template.metadata!.annotations![BACKEND_HASH_ANNOTATION];
    expect(hash(local.app)).toBe(backendConfigHash(local.configMap.data!));
    expect(hash(remote.app)).not.toBe(hash(local.app));
    expect(remote.agent).toEqual(local.agent);
    expect(remote.service).toEqual(local.service);
  });

  it("propagates every namespaced object by name to the one member", () => {
    const p = pipelineObjects(args);
    expect(p.policy.metadata.namespace).toBe(p.configMap.metadata!.namespace);
    expect(p.policy.spec).toEqual({
      resourceSelectors: [
        { apiVersion: "v1", kind: "ConfigMap", name: "vaccel-backend" },
        { apiVersion: "apps/v1", kind: "Deployment", name: "vaccel-rpc-agent" },
        { apiVersion: "v1", kind: "Service", name: "vaccel-rpc-agent" },
        { apiVersion: "apps/v1", kind: "Deployment", name: "object-detection" },
      ],
      placement: { clusterAffinity: { clusterNames: ["edge"] } },
    });
    for (const o of [p.configMap, p.agent, p.service, p.app]) expect(o.metadata!.namespace).toBe("vaccel-demo");
  });
});

describe("pipelineArgs", () => {
  it("takes testbed:vaccel's object settings and the member, and nothing the objects do not use (the waits)", () => {
    const spec = vaccelSchema.parse({
      clientNode: "pi",
      gpuNode: "jetson",
      agentImage: "registry.example/vaccel-rpc-agent:0.6.1",
      appImage: "registry.example/yolo-vaccel:0.1.0",
      readySeconds: 900,
    });
    expect(pipelineArgs(spec, "edge")).toEqual({
      member: "edge",
      clientNode: "pi",
      gpuNode: "jetson",
      agentImage: "registry.example/vaccel-rpc-agent:0.6.1",
      appImage: "registry.example/yolo-vaccel:0.1.0",
      port: 8192,
      backend: "local",
    });
  });
});

describe("the schema checks themselves", () => {
  it("reject what the API servers would", async () => {
    const p = pipelineObjects(args);
    const badPort: any = structuredClone(p.agent);
    badPort.spec.template.spec.containers[0].ports[0].containerPort = "8192";
    expect((await coreSchemaErrors(badPort)).join()).toMatch(/containerPort must be integer/);
    const noContainers: any = structuredClone(p.app);
    delete noContainers.spec.template.spec.containers;
    expect((await coreSchemaErrors(noContainers)).join()).toMatch(/containers/);
    const misspelt: any = structuredClone(p.policy);
    misspelt.spec.placement.clusterAfinity = misspelt.spec.placement.clusterAffinity;
    expect(karmadaSchemaErrors(misspelt).join()).toMatch(/clusterAfinity/);
    const noSelectors: any = structuredClone(p.policy);
    noSelectors.spec.resourceSelectors = [{ name: "x" }];
    expect(karmadaSchemaErrors(noSelectors).join()).toMatch(/apiVersion/);
  });
});

describe("backendConfigData", () => {
  it("is exactly the env of the yolo-torch demo's local and remote runs", () => {
    expect(backendConfigData("local", "vaccel-rpc-agent", 8192)).toEqual({
      VACCEL_PLUGINS: "libvaccel-torch.so",
      VACCEL_LOG_LEVEL: "4",
    });
    expect(backendConfigData("remote", "vaccel-rpc-agent", 8192)).toEqual({
      VACCEL_PLUGINS: "libvaccel-rpc.so",
      VACCEL_RPC_ADDRESS: "tcp://vaccel-rpc-agent:8192",
      VACCEL_LOG_LEVEL: "3",
    });
    expect(() => backendConfigData("gpu" as any, "a", 1)).toThrow('vaccel.backend: "gpu" is not local or remote');
  });
});
