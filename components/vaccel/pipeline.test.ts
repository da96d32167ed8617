import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import { type MockedResource, setupMocks, unwrap } from "../../test/harness/mocks";
import { vaccelSchema } from "../spec/schema";
import { schemaErrors } from "../../test/harness/karmadaSchemas";
import { PIPELINE_READY_TIMEOUT_S, VaccelPipeline } from "./pipeline";
import { pipelineObjects } from "./objects";

let created: MockedResource[];
beforeAll(() => {
  created = setupMocks();
});

const spec = vaccelSchema.parse({
  clientNode: "pi",
  gpuNode: "jetson",
  agentImage: "registry.example/vaccel-rpc-agent:0.6.1",
  appImage: "registry.example/yolo-vaccel@sha256:" + "a".repeat(64),
});

describe("VaccelPipeline", () => {
  beforeAll(async () => {
    const karmada = new k8s.Provider("karmada-api", { kubeconfig: pulumi.secret("karmada") });
    const p = new VaccelPipeline("vaccel", { spec, member: "edge", karmada, dependsOn: [] });
    await unwrap(pulumi.all([p.app.urn, p.agent.urn, p.policy.urn]));
  });
  const inputs = (name: string) => created.find((r) => r.name === name)!.inputs;

  it("sends pipelineObjects() as they are, plus the Deployments' bounded wait for what Karmada aggregates", async () => {
    const p = pipelineObjects({ member: "edge", ...spec });
    const strip = (o: Record<string, unknown>) => {
      const { metadata, ...rest } = o as { metadata: { annotations?: Record<string, string> } };
      const annotations = Object.fromEntries(
        Object.entries(metadata.annotations ?? {}).filter(([k]) => !k.startsWith("pulumi.com/")),
      );
      return {
        ...rest,
        metadata: { ...metadata, annotations: Object.keys(annotations).length ? annotations : undefined },
      };
    };
    const same = (o: unknown) => JSON.parse(JSON.stringify(strip(o as Record<string, unknown>)));
    expect(same(inputs("vaccel-namespace"))).toEqual(same(p.namespace));
    expect(same(inputs("vaccel-backend"))).toEqual(same(p.configMap));
    expect(same(inputs("vaccel-agent-service"))).toEqual(same(p.service));
    expect(same(inputs("vaccel-policy"))).toEqual(same(p.policy));
    expect(same(inputs("vaccel-agent"))).toEqual(same(p.agent));
    expect(same(inputs("vaccel-app"))).toEqual(same(p.app));
    for (const name of ["vaccel-agent", "vaccel-app"]) {
      expect((inputs(name).metadata as { annotations: Record<string, string> }).annotations).toMatchObject({
        "pulumi.com/waitFor": "jsonpath={.status.availableReplicas}=1",
        // A spec without readySeconds: the schema's default, the constant, rendered as before.
        "pulumi.com/timeoutSeconds": String(PIPELINE_READY_TIMEOUT_S),
      });
      expect(await schemaErrors(inputs(name) as { apiVersion: string; kind: string }), name).toEqual([]);
    }
  });

  it("bounds the Deployments' wait by testbed:vaccel.readySeconds", async () => {
    const karmada = new k8s.Provider("karmada-api-slow", { kubeconfig: pulumi.secret("karmada") });
    const slow = vaccelSchema.parse({ ...spec, readySeconds: 1800 });
    const p = new VaccelPipeline("slow", { spec: slow, member: "edge", karmada, dependsOn: [] });
    await unwrap(pulumi.all([p.app.urn, p.agent.urn]));
    for (const name of ["slow-agent", "slow-app"])
      expect((inputs(name).metadata as { annotations: Record<string, string> }).annotations).toMatchObject({
        "pulumi.com/waitFor": "jsonpath={.status.availableReplicas}=1",
        "pulumi.com/timeoutSeconds": "1800",
      });
  });

  it("forces its apply over what backend and reset last wrote: every object carries pulumi.com/patchForce", () => {
    for (const name of ["namespace", "backend", "agent-service", "policy", "agent", "app"])
      expect([
        name,
        (inputs(`vaccel-${name}`).metadata as { annotations: Record<string, string> }).annotations,
      ]).toEqual([name, expect.objectContaining({ "pulumi.com/patchForce": "true" })]);
    // The builders stay as the API is to hold them: reset compares them with the live objects.
    const p = pipelineObjects({ member: "edge", ...spec });
    for (const o of Object.values(p))
      expect((o.metadata as { annotations?: Record<string, string> }).annotations ?? {}).not.toHaveProperty(
        "pulumi.com/patchForce",
      );
  });

  it("has the six objects of the pipeline, all Kubernetes objects", () => {
    const objects = created.filter((r) => r.name.startsWith("vaccel-"));
    expect(objects).toHaveLength(6);
    for (const r of objects) expect(r.type).toMatch(/^kubernetes:/);
  });
});
