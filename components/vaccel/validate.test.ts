import { describe, expect, it } from "vitest";
import { imagePinError, vaccelSpecIssues } from "./validate";
import { DEFAULT_VACCEL_AGENT_IMAGE, DEFAULT_VACCEL_APP_IMAGE, karmadaSchema, vaccelSchema } from "../spec/schema";

const hosts = {
  nuc: { board: "generic" },
  "karmada-host": { board: "generic" },
  "k3s-cp": { board: "generic" },
  pi: { board: "raspberry-pi" },
  jetson: { board: "jetson" },
  spare: { board: "generic" },
};
const clusters = {
  mgmt: { server: "karmada-host", agents: [] },
  edge: { server: "k3s-cp", agents: ["pi", "jetson"] },
  other: { server: "spare", agents: [] },
};
const karmada = karmadaSchema.parse({ cluster: "mgmt", members: ["edge"] });
const pinned = { agentImage: "registry.example/agent:0.6.1", appImage: "registry.example/app:1.0" };
const vaccel = (over: Record<string, unknown>) =>
  vaccelSchema.parse({ clientNode: "pi", gpuNode: "jetson", ...pinned, ...over });

describe("vaccelSpecIssues", () => {
  it("accepts the demo: Pi client, Jetson GPU node, both in the member cluster, images pinned", () => {
    expect(vaccelSpecIssues({ hosts, clusters, karmada, vaccel: vaccel({}) })).toEqual([]);
  });

  it("refuses a gpuNode without a GPU board", () => {
    expect(
      vaccelSpecIssues({ hosts, clusters, karmada, vaccel: vaccel({ gpuNode: "pi", clientNode: "jetson" }) }),
    ).toEqual([
      {
        path: "vaccel.gpuNode",
        message: '"pi" has board "raspberry-pi", which has no GPU for the RPC agent (GPU boards: jetson)',
      },
    ]);
  });

  it("refuses nodes that are unknown, in no cluster, or in a cluster that is not a member", () => {
    const issues = vaccelSpecIssues({
      hosts,
      clusters,
      karmada,
      vaccel: vaccel({ clientNode: "nuc", gpuNode: "jetsn" }),
    });
    expect(issues).toEqual([
      { path: "vaccel.clientNode", message: '"nuc" is in no cluster: it must run k3s in a Karmada member cluster' },
      {
        path: "vaccel.gpuNode",
        message: '"jetsn" is not a host of the spec (hosts: nuc, karmada-host, k3s-cp, pi, jetson, spare)',
      },
    ]);
    expect(vaccelSpecIssues({ hosts, clusters, karmada, vaccel: vaccel({ clientNode: "spare" }) })).toEqual([
      {
        path: "vaccel.clientNode",
        message: '"spare" is in cluster "other", which is not a Karmada member (karmada.members: edge)',
      },
      {
        path: "vaccel",
        message:
          'clientNode "spare" (cluster "other") and gpuNode "jetson" (cluster "edge") must be in the same member ' +
          "cluster: the app reaches the agent through a cluster Service",
      },
    ]);
  });

  it("needs Karmada", () => {
    expect(vaccelSpecIssues({ hosts, clusters, vaccel: vaccel({}) })).toContainEqual({
      path: "vaccel",
      message: "needs karmada: the pipeline is created through the Karmada API",
    });
  });

  it("refuses the schema's current default images, which use :latest", () => {
    const issues = vaccelSpecIssues({
      hosts,
      clusters,
      karmada,
      vaccel: vaccel({ agentImage: DEFAULT_VACCEL_AGENT_IMAGE, appImage: DEFAULT_VACCEL_APP_IMAGE }),
    });
    expect(issues.map((i) => i.path)).toEqual(["vaccel.agentImage", "vaccel.appImage"]);
  });
});

describe("imagePinError", () => {
  it.each([
    ["registry.example/agent:0.6.1"],
    ["registry.example:5000/team/agent:v1.2.3-jetson"],
    ["agent@sha256:" + "0".repeat(64)],
    ["registry.example/agent:1.0@sha256:" + "f".repeat(64)],
  ])("accepts %s", (image) => {
    expect(imagePinError(image)).toBeUndefined();
  });

  it.each([
    [
      "registry.example/agent:latest",
      '"registry.example/agent:latest" uses the moving tag latest: pin a version tag or a sha256 digest',
    ],
    [
      "registry.example/agent",
      '"registry.example/agent" has no tag or digest: pin it, e.g. registry.example/agent:<version> or registry.example/agent@sha256:<digest>',
    ],
    [
      "registry.example:5000/agent",
      '"registry.example:5000/agent" has no tag or digest: pin it, e.g. registry.example:5000/agent:<version> or registry.example:5000/agent@sha256:<digest>',
    ],
    ["agent@sha256:abc", '"agent@sha256:abc": the digest is not sha256:<64 hex digits>'],
    ["agent:-bad", '"agent:-bad": "-bad" is not a valid tag'],
    ["agent :1", '"agent :1" is not an image reference'],
  ])("refuses %s", (image, message) => {
    expect(imagePinError(image)).toBe(message);
  });
});
