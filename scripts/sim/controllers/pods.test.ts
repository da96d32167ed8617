import { describe, expect, it } from "vitest";
import { pipelineObjects } from "../../../components/vaccel/objects";
import { type SimPod, emptyModel, podTemplateHash } from "./deploymentStatus";
import { podIP, podObject, podStatus, podStatusChanged } from "./pods";

const args = {
  member: "edge",
  clientNode: "pi",
  gpuNode: "jetson",
  agentImage: "registry.example/vaccel-rpc-agent:0.6.1",
  appImage: "registry.example/yolo-vaccel@sha256:" + "a".repeat(64),
  port: 8192,
  backend: "local" as const,
};

describe("the Pods of the model", () => {
  const app = pipelineObjects(args).app;
  const hash = podTemplateHash(app.spec!.template);
  const m = emptyModel();
  m.templates.set(hash, app.spec!.template);
  const pod: SimPod = {
    name: `object-detection-${hash}-bcdfg`,
    hash,
    phase: "Pending",
    ready: false,
    terminating: false,
  };

  it("are made from their ReplicaSet's template, with the pod-template-hash label", () => {
    const o = podObject(app, m, pod);
    expect(o.metadata).toMatchObject({
      name: pod.name,
      namespace: "vaccel-demo",
      labels: { "app.kubernetes.io/name": "object-detection", "pod-template-hash": hash },
    });
    expect(o.metadata.annotations).toEqual(app.spec!.template.metadata!.annotations);
    expect(o.spec.nodeSelector).toEqual({ "kubernetes.io/hostname": "pi" });
  });

  it("are Pending and Unschedulable while unbound, Running with a pod IP in the node's flannel subnet once started", () => {
    const unbound = podStatus({ ...pod, waiting: "0/3 nodes are available" }, undefined, undefined, 0);
    expect(unbound).toMatchObject({
      phase: "Pending",
      conditions: [{ type: "PodScheduled", status: "False", reason: "Unschedulable" }],
    });
    const ip = podIP(2, pod.name);
    expect(ip).toMatch(/^10\.42\.2\.\d+$/);
    expect(podIP(2, pod.name)).toBe(ip);
    const running = podStatus({ ...pod, node: "pi", phase: "Running", ready: true }, "198.18.0.22", ip, 0);
    expect(running).toMatchObject({ phase: "Running", podIP: ip, hostIP: "198.18.0.22" });
    expect(running.conditions.find((c: { type: string }) => c.type === "Ready").status).toBe("True");
    const started = podStatus({ ...pod, node: "pi", phase: "Running" }, "198.18.0.22", ip, 0);
    expect(podStatusChanged(started, running)).toBe(true);
    expect(
      podStatusChanged(running, podStatus({ ...pod, node: "pi", phase: "Running", ready: true }, "198.18.0.22", ip, 9)),
    ).toBe(false);
  });
});
