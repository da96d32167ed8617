import { describe, expect, it } from "vitest";
import { clusterOfHost, imagePinError, vaccelSpecIssues } from "./validate";
import { karmadaSchema, vaccelSchema } from "../spec/schema";

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
      {
        path: "vaccel.clientNode",
        message: '"nuc" is a node of no cluster: it must run k3s in a Karmada member cluster',
      },
      {
        path: "vaccel.gpuNode",
        message:
          '"jetsn" is not a host or VM of this spec (known: "nuc", "karmada-host", "k3s-cp", "pi", "jetson", "spare")',
      },
    ]);
    expect(vaccelSpecIssues({ hosts, clusters, karmada, vaccel: vaccel({ clientNode: "spare" }) })).toEqual([
      {
        path: "vaccel.clientNode",
        message: '"spare" is in cluster "other", which is not a Karmada member (karmada.members: "edge")',
      },
    ]);
  });

  it("leaves a node of two clusters to the clusters' own error", () => {
    const twice = { ...clusters, other: { server: "spare", agents: ["pi"] } };
    expect(vaccelSpecIssues({ hosts, clusters: twice, karmada, vaccel: vaccel({}) })).toEqual([]);
  });

  it("refuses two member clusters, even when both are members", () => {
    const both = karmadaSchema.parse({ cluster: "mgmt", members: ["edge", "other"] });
    expect(vaccelSpecIssues({ hosts, clusters, karmada: both, vaccel: vaccel({ clientNode: "spare" }) })).toEqual([
      {
        path: "vaccel.clientNode",
        message:
          '"spare" is in cluster "other", vaccel.gpuNode "jetson" in "edge": both must be in one member cluster, ' +
          "as the app reaches the agent through a Service of its cluster",
      },
    ]);
  });

  it("refuses one node for both roles", () => {
    expect(vaccelSpecIssues({ hosts, clusters, karmada, vaccel: vaccel({ clientNode: "jetson" }) })).toEqual([
      {
        path: "vaccel.clientNode",
        message: '"jetson" is also vaccel.gpuNode: the app must run on another node than the GPU agent it offloads to',
      },
    ]);
  });

  it("needs Karmada, and then says nothing of members", () => {
    expect(vaccelSpecIssues({ hosts, clusters, vaccel: vaccel({}) })).toEqual([
      {
        path: "vaccel",
        message: "needs testbed:karmada: the pipeline is created through the Karmada API and propagated to a member",
      },
    ]);
  });

  it("refuses the images the spec used to default to, which use :latest", () => {
    const issues = vaccelSpecIssues({
      hosts,
      clusters,
      karmada,
      vaccel: vaccel({
        agentImage: "harbor.nbfc.io/nubificus/vaccel-rpc-agent:latest",
        appImage: "harbor.nbfc.io/nubificus/yolo-vaccel",
      }),
    });
    expect(issues).toEqual([
      {
        path: "vaccel.agentImage",
        message:
          '"harbor.nbfc.io/nubificus/vaccel-rpc-agent:latest" uses the moving tag latest: pin a version tag or a sha256 digest',
      },
      {
        path: "vaccel.appImage",
        message:
          '"harbor.nbfc.io/nubificus/yolo-vaccel" has no tag or digest: pin it by a version tag (name:<version>) or a digest (name@sha256:<digest>)',
      },
    ]);
  });
});

describe("imagePinError", () => {
  it.each([
    ["registry.example/agent:0.6.1"],
    ["registry.example:5000/team/agent:v1.2.3-jetson"],
    ["Registry.Example/team/agent:1"],
    ["localhost/a__b/c--d:1.0_rc"],
    ["agent@sha256:" + "0".repeat(64)],
    ["registry.example/agent:1.0@sha256:" + "f".repeat(64)],
  ])("accepts %s", (image) => {
    expect(imagePinError(image)).toBeUndefined();
  });

  const badName =
    "is not an image reference: the name must be an optional registry host[:port] and \"/\", then '/'-separated path " +
    "components of lower-case letters and digits, joined inside by '.', '_', '__' or dashes (at most 255 characters)";
  it.each([
    [
      "registry.example/agent:latest",
      '"registry.example/agent:latest" uses the moving tag latest: pin a version tag or a sha256 digest',
    ],
    [
      "registry.example/agent",
      '"registry.example/agent" has no tag or digest: pin it by a version tag (name:<version>) or a digest (name@sha256:<digest>)',
    ],
    [
      "registry.example:5000/agent",
      '"registry.example:5000/agent" has no tag or digest: pin it by a version tag (name:<version>) or a digest (name@sha256:<digest>)',
    ],
    ["agent@sha256:abc", '"agent@sha256:abc": the digest is not sha256:<64 hex digits>'],
    [
      "agent:-bad",
      "\"agent:-bad\": the tag \"-bad\" is not a tag (letters, digits, '_', '.' or '-', at most 128, not starting with '.' or '-')",
    ],
    ["agent :1", '"agent :1" is not an image reference: it holds white space'],
    ["", '"" is not an image reference: it is empty'],
    ["registry.example/Team/Agent:1", `"registry.example/Team/Agent:1" ${badName}`],
    ["registry.example//agent:1", `"registry.example//agent:1" ${badName}`],
    ["agent-:1", `"agent-:1" ${badName}`],
    [`registry.example/${"a".repeat(250)}:1`, `"registry.example/${"a".repeat(63)}"... (269 characters) ${badName}`],
    [
      "<registry>/vaccel-rpc-agent:<version>",
      '"<registry>/vaccel-rpc-agent:<version>" is a placeholder: put the reference of the image you built or mirrored, pinned by a version tag or a sha256 digest',
    ],
  ])("refuses %s", (image, message) => {
    expect(imagePinError(image)).toBe(message);
  });
});

describe("clusterOfHost", () => {
  it("finds a server's and an agent's cluster, and none for a host outside every cluster", () => {
    expect([
      clusterOfHost(clusters, "karmada-host"),
      clusterOfHost(clusters, "jetson"),
      clusterOfHost(clusters, "nuc"),
    ]).toEqual(["mgmt", "edge", undefined]);
  });
});
