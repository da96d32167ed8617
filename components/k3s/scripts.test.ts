import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { bundle } from "../remote/script";
import type { ClusterSpec } from "../spec";
import {
  AGENT_REFUSED,
  agentConfig,
  agentScript,
  credentialsScript,
  jetsonRuntimeScript,
  memoryCgroupScript,
  nodeScript,
  piCgroupScript,
  serverConfig,
  serverScript,
} from "./scripts";

const cluster: ClusterSpec = {
  name: "edge",
  server: "k3s-cp",
  agents: ["pi"],
  podCidr: "10.12.0.0/16",
  serviceCidr: "10.13.0.0/16",
  k3sVersion: "v1.31.6+k3s1",
  installScriptUrl: "https://get.k3s.io",
  dataDir: "/srv/k3s data",
  extraArgs: [],
} as ClusterSpec;
const agent = (nvidia = false) =>
  agentScript(
    cluster,
    agentConfig("https://198.19.0.21:6443", "pi", "198.18.0.11", {}, {}, cluster.dataDir),
    "K10abc::server:def",
    {
      host: "pi",
      nodeName: "pi",
      nvidia,
    },
  );

/** bash -n and shellcheck (errors only) of a step as it is sent. */
function lint(name: string, script: { create: string; delete?: string }): string {
  const text = bundle(name, script);
  const syntax = spawnSync("bash", ["-n"], { input: text, encoding: "utf8" });
  const check = spawnSync("shellcheck", ["-s", "bash", "-S", "error", "-"], { input: text, encoding: "utf8" });
  return `${syntax.stderr}${check.error ? "" : check.stdout}`;
}

describe("k3s step scripts", () => {
  it("are valid bash", () => {
    const steps = {
      server: serverScript(cluster, serverConfig(cluster, "k3s-cp", "198.19.0.21", {}), ["pass"], "k3s-cp"),
      agent: agent(),
      jetson: agent(true),
      credentials: credentialsScript(cluster),
      node: nodeScript(cluster, "pi"),
      cgroups: piCgroupScript(),
      memory: memoryCgroupScript("pi"),
      runtime: jetsonRuntimeScript("jetson"),
    };
    for (const [name, s] of Object.entries(steps)) expect([name, lint(name, s)]).toEqual([name, ""]);
  });

  it("start k3s without the installer's blocking restart, and restart it on any change, config.yaml included", () => {
    for (const s of [agent().create, serverScript(cluster, "node-name: x", [], "k3s-cp").create]) {
      expect(s).toMatch(/INSTALL_K3S_SKIP_START=true INSTALL_K3S_VERSION=v1\.31\.6\+k3s1 /);
      expect(s).toMatch(/systemctl restart --no-block k3s(-agent)?\n/);
      expect(s).not.toMatch(/systemctl restart (?!--no-block)/);
      // Nothing runs only when version, config and a running (READY) service all match.
      expect(s).toMatch(/\[ "\$config_changed" = no \] .*\n {2}&& systemctl is-active --quiet k3s/);
    }
  });

  it("wait for the agent's own node to be Ready, fail at once when the server refuses it, and quote its journal", () => {
    const s = agent().create;
    expect(s).toContain(
      `k3s kubectl --kubeconfig '/srv/k3s data/agent/kubelet.kubeconfig' get node pi -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}'`,
    );
    expect(s).not.toContain("k3s-agent-uninstall.sh ]; then ready");
    for (const r of AGENT_REFUSED) expect(s).toContain(`-e '${r}'`);
    expect(s).toMatch(
      /fail "host pi: the k3s agent pi of cluster edge was refused; the last lines of its journal:\n\$\(journalctl -u k3s-agent -n 20 --no-pager --since "\$since"/,
    );
    expect(s).toMatch(
      /fail "host pi: the k3s agent pi of cluster edge not ready after \$\(\(60 \* 5\)\) s; the last lines/,
    );
  });

  it("on a Jetson, restart k3s when containerd's config lacks the nvidia runtime, and fail if it still does", () => {
    const s = agent(true).create;
    expect(s).toContain(
      `&& systemctl is-active --quiet k3s-agent && ! { ! grep -q nvidia '/srv/k3s data/agent/etc/containerd/config.toml' 2>/dev/null; }; then`,
    );
    expect(s).toMatch(
      /grep -q nvidia '\/srv\/k3s data\/agent\/etc\/containerd\/config.toml' 2>\/dev\/null \|\| fail 'host pi: k3s started without the nvidia runtime/,
    );
    expect(agent(false).create).not.toContain("nvidia");
  });

  it("look for the NVIDIA runtime where k3s does, not on PATH, and not nvidia-ctk", () => {
    const s = jetsonRuntimeScript("jetson").create;
    expect(s).toContain(`for dir in /usr/local/nvidia/toolkit /usr/bin; do
  if [ -f "$dir/nvidia-container-runtime" ]`);
    expect(s).not.toContain("nvidia-ctk");
    expect(s).not.toMatch(/command -v nvidia-container-runtime >\/dev\/null \|\|/);
  });

  it("put the agent's data in the cluster's data dir, where its checks and uninstall look", () => {
    expect(agentConfig("https://h:6443", "pi", undefined, {}, {}, "/srv/k3s data")).toContain(
      "data-dir: /srv/k3s data\n",
    );
  });

  it("uninstall with K3S_DATA_DIR, which the uninstall scripts read, and forget the node's password", () => {
    expect(agent().delete).toContain(`K3S_DATA_DIR='/srv/k3s data' /usr/local/bin/k3s-agent-uninstall.sh >&2`);
    expect(agent().delete).toContain("/etc/rancher/node/password");
    expect(serverScript(cluster, "", [], "k3s-cp").delete).toContain(
      `K3S_DATA_DIR='/srv/k3s data' /usr/local/bin/k3s-uninstall.sh >&2`,
    );
    expect(agent().delete).not.toContain("agent-leave");
  });

  it("delete an agent's Node and node-password secret on the server", () => {
    const d = nodeScript(cluster, "Pi-4").delete!;
    expect(d).toContain("k3s kubectl delete node Pi-4 --ignore-not-found");
    expect(d).toContain("k3s kubectl -n kube-system delete secret pi-4.node-password.k3s --ignore-not-found");
  });

  it("print the credentials last, after every check that can fail", () => {
    const lines = credentialsScript(cluster).create.trim().split("\n");
    const printed = lines.findIndex((l) => l.startsWith("output "));
    expect(printed).toBeGreaterThan(0);
    expect(lines.slice(printed + 1)).toEqual([`unchanged "read the join token and kubeconfig of cluster edge"`]);
    expect(lines.slice(0, printed).join("\n")).toContain("does not point at https://127.0.0.1:6443");
  });

  it("close SSH before the Pi's reboot, so no step can start in the 2 s before it", () => {
    const s = piCgroupScript().create;
    const reboot = s.indexOf("nohup sh -c 'sleep 2; reboot'");
    const stop = s.indexOf("systemctl stop ssh.service");
    const result = s.indexOf(`changed "$what; rebooting`);
    expect(reboot).toBeGreaterThan(0);
    expect(stop).toBeGreaterThan(reboot);
    expect(result).toBeGreaterThan(stop);
    expect(memoryCgroupScript("pi").create).toContain("grep -qw memory /sys/fs/cgroup/cgroup.controllers");
  });
});
