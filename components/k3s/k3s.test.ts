import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import { type MockedResource, setupMocks, unwrap } from "../../test/harness/mocks";
import { loadSpec, readStackConfig } from "../spec";
import { RemoteHost } from "../remote/host";
import { gate, gateVerdictOf } from "../disk/gate";
import type { FioResult } from "../disk/fio";
import { K3sCluster, readCredentials } from "./k3s";
import { REBOOT_DIAL_ERROR_LIMIT } from "./scripts";

const root = path.resolve(__dirname, "../..");
const spec = loadSpec(readStackConfig(path.join(root, "stacks/Pulumi.sim.yaml")), {
  baseDir: root,
  // Key files of a sim that may not exist here: a host key for the .pub files, a one-line password for the sudo
  // password file (the spec refuses a multi-line one), a private key for the rest.
  readFile: (file) =>
    file.endsWith(".pub")
      ? "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOqlqm4Je6lr3zF0YNA4KdlFhrcK/y7VBF873abPbSQs"
      : file.endsWith("sudo-password")
        ? "not-a-real-password\n"
        : "-----BEGIN OPENSSH PRIVATE KEY-----\nnot-a-real-key\n-----END OPENSSH PRIVATE KEY-----\n",
});
const thresholds = { warnMs: 10, failMs: 100 };
const measured = (p99Ms: number) => ({ p99Ms }) as FioResult;
const verdictAt = (p99Ms: number) =>
  gateVerdictOf(gate({ host: "k3s-cp", path: "/db", result: measured(p99Ms), thresholds, accepted: false }));

let created: MockedResource[];
beforeAll(() => {
  created = setupMocks((r) =>
    r.type === "command:remote:Command"
      ? {
          stdout: r.name.endsWith("/k3s-credentials")
            ? `TESTBED output {"token":"K10x","kubeconfig":"${Buffer.from("server: https://127.0.0.1:6443").toString("base64")}"}\nTESTBED unchanged ok\n`
            : "TESTBED unchanged ok\n",
          stderr: "",
        }
      : {},
  );
});

describe("gateVerdictOf", () => {
  it("keeps the verdict and drops the figures, so a re-measurement in the same verdict changes nothing", () => {
    expect(verdictAt(0.31)).toBe("pass");
    expect(verdictAt(2.64)).toBe("pass");
    expect(verdictAt(21.6)).toBe("warn");
    expect(gateVerdictOf(gate({ host: "h", path: "/db", result: measured(150), thresholds, accepted: true }))).toBe(
      "fail (accepted by diskGate.accept)",
    );
  });
});

describe("K3sCluster", () => {
  it("puts the gate verdicts in the server's script and gives no step triggers (a replacement would uninstall k3s)", async () => {
    const host = (name: string) => new RemoteHost(name, { host: { ...spec.hosts[name], address: "198.19.0.21" } });
    const cluster = new K3sCluster("edge", {
      cluster: spec.clusters.edge,
      server: { host: host("k3s-cp"), address: "198.19.0.21", gates: [pulumi.output("pass"), pulumi.output("warn")] },
      agents: [{ host: host("pi"), address: "198.18.0.11" }],
    });
    await unwrap(cluster.kubeconfig);
    const server = created.find((r) => r.name === "k3s-cp/k3s-server");
    expect(server).toBeDefined();
    // pulumi-command replaces on `triggers` only, and Pulumi replaces create-before-delete: the old step's delete
    // (k3s-uninstall.sh) would run after the new install. No step of the cluster may have any.
    for (const r of created.filter((x) => x.type === "command:remote:Command"))
      expect([r.name, r.inputs.triggers]).toEqual([r.name, undefined]);
    expect(JSON.stringify(server!.inputs.stdin)).toContain("readonly -a gates=(pass warn)");
  });
});

describe("K3sCluster's steps around the agents", () => {
  it("waits for the Pi after its reboot with a longer dial budget, and gives each agent a Node step on the server", async () => {
    const host = (name: string) => new RemoteHost(name, { host: { ...spec.hosts[name], address: "198.19.0.21" } });
    const cluster = new K3sCluster("edge2", {
      cluster: spec.clusters.edge,
      server: { host: host("k3s-cp"), address: "198.19.0.21" },
      agents: [{ host: host("pi"), address: "198.18.0.11" }],
    });
    await unwrap(cluster.kubeconfig);
    const memory = created.find((r) => r.name === "pi/memory-cgroup");
    // The connection holds the private key: the mock runtime shows it as a secret, { value }.
    const dials = (r?: MockedResource) =>
      (r?.inputs.connection as { value: { dialErrorLimit: number } }).value.dialErrorLimit;
    expect(dials(memory)).toBe(REBOOT_DIAL_ERROR_LIMIT);
    expect(dials(created.find((r) => r.name === "pi/cgroups"))).toBe(10);
    const node = created.find((r) => r.name === "k3s-cp/k3s-node-pi");
    expect(JSON.stringify(node?.inputs.stdin)).toContain("readonly node_password_secret=pi.node-password.k3s");
  });
});

describe("readCredentials", () => {
  it("points the kubeconfig at the server, and never quotes the step's output in its errors", () => {
    const kubeconfig = Buffer.from("server: https://127.0.0.1:6443").toString("base64");
    expect(
      readCredentials(
        "edge",
        `TESTBED output {"token":"K10x","kubeconfig":"${kubeconfig}"}\nTESTBED unchanged ok\n`,
        "https://h:6443",
      ),
    ).toEqual({ token: "K10x", kubeconfig: "server: https://h:6443" });
    const leaky = 'TESTBED output {"token":"K10secret::server:pw", broken\n';
    expect(() => readCredentials("edge", leaky, "https://h:6443")).toThrow(
      "cluster edge: the credentials step's output is not readable (not shown: it holds secrets)",
    );
    expect(() => readCredentials("edge", leaky, "https://h:6443")).not.toThrow(/K10secret|server:pw/);
  });
});
