import { describe, expect, it } from "vitest";
import { type SupervisorNode, nodeLabels, nodeObject, nodeStatus, readyCondition } from "./nodes";

const agent: SupervisorNode = {
  role: "agent",
  labels: ["testbed.mlsysops.eu/board=jetson", "kubernetes.io/os=custom"],
  ip: "198.18.0.23",
  index: 2,
  ready: true,
  arch: "arm64",
  runtimes: ["nvidia"],
};

describe("the Nodes of a k3s cluster", () => {
  it("labels an agent as its kubelet and k3s's cloud provider do, node-label entries last and winning", () => {
    expect(nodeLabels("jetson", agent)).toEqual({
      "kubernetes.io/hostname": "jetson",
      "kubernetes.io/os": "custom",
      "beta.kubernetes.io/os": "linux",
      "kubernetes.io/arch": "arm64",
      "beta.kubernetes.io/arch": "arm64",
      "node.kubernetes.io/instance-type": "k3s",
      "beta.kubernetes.io/instance-type": "k3s",
      "testbed.mlsysops.eu/board": "jetson",
    });
  });

  it("gives the server k3s's control-plane and master roles, and an agent neither", () => {
    const server = nodeLabels("edge-server", { ...agent, role: "server", labels: [] });
    expect(server["node-role.kubernetes.io/control-plane"]).toBe("true");
    expect(server["node-role.kubernetes.io/master"]).toBe("true");
    expect(nodeLabels("jetson", agent)["node-role.kubernetes.io/control-plane"]).toBeUndefined();
  });

  it("leaves the arch labels off when the supervisor does not say the node's arch", () => {
    const { arch: _arch, ...noArch } = agent;
    void _arch;
    expect(nodeLabels("jetson", noArch)["kubernetes.io/arch"]).toBeUndefined();
  });

  it("registers the node with k3s's providerID and its node-ip as InternalIP", () => {
    const n = nodeObject("jetson", agent) as { metadata: { annotations: Record<string, string> }; spec: object };
    expect(n.spec).toEqual({ providerID: "k3s://jetson" });
    expect(n.metadata.annotations["k3s.io/internal-ip"]).toBe("198.18.0.23");
    const s = nodeStatus("jetson", agent, readyCondition(true, 0)) as { addresses: object[] };
    expect(s.addresses).toEqual([
      { type: "InternalIP", address: "198.18.0.23" },
      { type: "Hostname", address: "jetson" },
    ]);
    const noIp = nodeStatus("jetson", { ...agent, ip: null }, readyCondition(true, 0)) as { addresses: object[] };
    expect(noIp.addresses).toEqual([{ type: "Hostname", address: "jetson" }]);
  });

  it("is Ready while the kubelet heartbeats, Unknown (NotReady) once it stops, keeping the transition time", () => {
    const t0 = Date.parse("2026-01-01T00:00:00Z");
    const up = readyCondition(true, t0);
    expect(up).toMatchObject({ status: "True", reason: "KubeletReady", lastTransitionTime: "2026-01-01T00:00:00Z" });
    const still = readyCondition(true, t0 + 60_000, up);
    expect(still.lastTransitionTime).toBe("2026-01-01T00:00:00Z");
    expect(still.lastHeartbeatTime).toBe("2026-01-01T00:01:00Z");
    const down = readyCondition(false, t0 + 120_000, still);
    expect(down).toMatchObject({
      status: "Unknown",
      reason: "NodeStatusUnknown",
      message: "Kubelet stopped posting node status.",
      lastHeartbeatTime: "2026-01-01T00:01:00Z",
      lastTransitionTime: "2026-01-01T00:02:00Z",
    });
  });
});
