import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { pinPrograms } from "../../test/harness/programs";
import { type StepScript, readShellFile, stepProgram, valueLine } from "../remote/script";
import type { ClusterSpec, HostSpec } from "../spec";
import { nodeLabels, readCredentials } from "./k3s";
import {
  AGENT_REFUSED,
  agentConfig,
  agentScript,
  credentialsScript,
  jetsonRuntimeScript,
  memoryCgroupScript,
  nodeScript,
  nodesReadyScript,
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
/** The spec's default data dir, and extra server arguments with a space in one. */
const plainCluster = { ...cluster, dataDir: "/var/lib/rancher/k3s" } as ClusterSpec;
const customCluster = {
  ...cluster,
  dataDir: "/srv/k3s data",
  extraArgs: ["--disable=traefik", "--kube-apiserver-arg=default-watch-cache-size=50"],
} as ClusterSpec;

const hostOf = (name: string, board: HostSpec["board"], arch: HostSpec["arch"]) =>
  ({ name, board, arch, labels: { "testbed.io/site": "lab" } }) as unknown as HostSpec;
const agentFor = (board: HostSpec["board"], arch: HostSpec["arch"] = "arm64") => {
  const spec = hostOf(board === "jetson" ? "jetson" : board === "raspberry-pi" ? "pi" : "edge-vm", board, arch);
  const extra = board === "jetson" ? { "default-runtime": "nvidia" } : {};
  return agentScript(
    cluster,
    agentConfig("https://198.19.0.21:6443", spec.name, "198.18.0.11", nodeLabels(spec), extra, cluster.dataDir),
    "K10abc::server:def",
    { host: spec.name, nodeName: spec.name, nvidia: board === "jetson" },
  );
};
const program = (name: string, script: StepScript) => stepProgram(name, script);
const server = (c: ClusterSpec, gates: string[] = []) =>
  serverScript(
    c,
    serverConfig(c, "k3s-cp", "198.19.0.21", nodeLabels(hostOf("k3s-cp", "generic", "amd64"))),
    gates,
    "k3s-cp",
  );

/** Every rendered program of the k3s steps, per board and option, by its snapshot's name. */
const rendered: Record<string, string> = {
  "server-no-gates": program("k3s-server", server(plainCluster)),
  "server-gates": program("k3s-server", server(plainCluster, ["pass", "warn"])),
  "server-data-dir": program("k3s-server", server(customCluster, ["fail (accepted by diskGate.accept)"])),
  credentials: program("k3s-credentials", credentialsScript(cluster)),
  "agent-generic": program("k3s-agent", agentFor("generic", "amd64")),
  "agent-raspberry-pi": program("k3s-agent", agentFor("raspberry-pi")),
  "agent-jetson": program("k3s-agent", agentFor("jetson")),
  "pi-cgroups": program("cgroups", piCgroupScript()),
  "memory-cgroup": program("memory-cgroup", memoryCgroupScript("pi")),
  "jetson-runtime": program("nvidia-runtime", jetsonRuntimeScript("jetson")),
  node: program("k3s-node-Pi-4", nodeScript(cluster, "Pi-4")),
  "nodes-ready": program("k3s-nodes-ready", nodesReadyScript(cluster, ["k3s-cp", "pi", "jetson"])),
};

pinPrograms(rendered);

describe("k3s step programs", () => {
  it("take every value from the header, quoted, and none from the body", () => {
    const s = rendered["server-data-dir"];
    expect(s).toContain(`readonly data_dir='/srv/k3s data'\n`);
    expect(s).toContain(
      `readonly k3s_exec='server --disable=traefik --kube-apiserver-arg=default-watch-cache-size=50'\n`,
    );
    expect(s).toContain(`readonly -a gates=('fail (accepted by diskGate.accept)')\n`);
    expect(rendered["server-no-gates"]).toContain("readonly -a gates=()\n");
    // The bodies are the .sh files: no cluster name, version or path was spliced into them.
    const body = s.slice(s.indexOf("\nchanged() {"));
    for (const v of ["edge", "v1.31.6", "/srv/k3s", "traefik", "k3s-cp"])
      expect([v, body.includes(v)]).toEqual([v, false]);
  });

  it("start k3s without the installer's restart, restart it on any change, config.yaml included, and wait for the new k3s", () => {
    for (const s of [rendered["agent-generic"], rendered["server-no-gates"]]) {
      expect(s).toContain(
        `INSTALL_K3S_SKIP_START=true INSTALL_K3S_VERSION=$k3s_version INSTALL_K3S_EXEC=$k3s_exec sh "$installer" >&2`,
      );
      // The restart is systemd's job, waited for in the background (the wait has its own bound); until it ended,
      // nothing read is the new k3s's (the old Node stays Ready, the old containerd config stays).
      expect(s).toContain(`systemctl restart "$service" >&2 &\n    restart_job=$!\n`);
      expect(s).not.toMatch(/systemctl [^\n]*--no-block/);
      expect(s).toContain(`if k3s_restarted && systemctl is-active --quiet "$service" && k3s_ready; then`);
      expect(s).toContain(`trap k3s_cleanup EXIT`);
      expect(s).toContain(`[ -z "$restart_job" ] || kill "$restart_job" 2>/dev/null || true`);
      // Nothing runs only when version, config and a running (READY) service all match.
      expect(s).toMatch(
        /\[ "\$config_changed" = no \] .*\n {4}&& systemctl is-active --quiet "\$service" && ! k3s_stale; then/,
      );
    }
    expect(rendered["server-no-gates"]).toContain(
      `k3s_install k3s k3s-uninstall.sh "the k3s server of cluster $cluster"`,
    );
    expect(rendered["agent-generic"]).toContain(`k3s_install k3s-agent k3s-agent-uninstall.sh`);
  });

  it("wait for the agent's own node to be Ready, fail at once when the server refuses it, and quote its journal", () => {
    const s = rendered["agent-raspberry-pi"];
    expect(s).toContain(
      `/usr/local/bin/k3s kubectl --kubeconfig "$data_dir/agent/kubelet.kubeconfig" get node "$node_name" \\\n    -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}'`,
    );
    expect(s).toContain(`readonly -a refused_when=(${AGENT_REFUSED.map((r) => `'${r}'`).join(" ")})\n`);
    expect(s).toContain(`journal="$(journalctl -u "$service" --no-pager --since "$since" 2>/dev/null || true)"`);
    expect(s).toContain(`grep -qF "\${patterns[@]}" <<<"$journal"`);
    expect(s).toMatch(/fail "host \$host: \$what was refused; the last lines of its journal:\n\$\(k3s_journal\)"/);
    expect(s).toMatch(
      /fail "host \$host: \$what not ready after \$\(\(ready_attempts \* ready_interval_s\)\) s; the last lines/,
    );
    expect(s).toContain(`journalctl -u "$service" -n "$journal_lines" --no-pager --since "$since" 2>&1 || true`);
  });

  it("on a Jetson, restart k3s when containerd's config lacks the nvidia runtime, and fail if it still does", () => {
    const s = rendered["agent-jetson"];
    expect(s).toContain("readonly nvidia=true\n");
    expect(s).toContain(`readonly containerd_config='/srv/k3s data/agent/etc/containerd/config.toml'\n`);
    expect(s).toContain(`k3s_stale() { [ "$nvidia" = true ] && ! nvidia_registered; }`);
    expect(s).toContain(`nvidia_registered || fail "host $host: k3s started without the nvidia runtime`);
    expect(s).toContain("default-runtime: nvidia");
    expect(rendered["agent-generic"]).toContain("readonly nvidia=false\n");
  });

  it("look for the NVIDIA runtime where k3s does, not on PATH, and not nvidia-ctk", () => {
    const s = rendered["jetson-runtime"];
    expect(s).toContain("readonly -a runtime_dirs=(/usr/local/nvidia/toolkit /usr/bin)\n");
    expect(s).toContain(`for dir in "\${runtime_dirs[@]}"; do
    if [ -f "$dir/nvidia-container-runtime" ]`);
    expect(s.split("\n").filter((l) => !l.startsWith("#") && l.includes("nvidia-ctk"))).toEqual([]);
    expect(s).not.toMatch(/command -v nvidia-container-runtime >\/dev\/null \|\|/);
  });

  it("put the agent's data in the cluster's data dir, where its checks and uninstall look", () => {
    expect(agentConfig("https://h:6443", "pi", undefined, {}, {}, "/srv/k3s data")).toContain(
      "data-dir: /srv/k3s data\n",
    );
  });

  it("uninstall with K3S_DATA_DIR, which the uninstall scripts read, and forget the node's password", () => {
    const a = rendered["agent-generic"];
    expect(a).toContain(`K3S_DATA_DIR=$data_dir "/usr/local/bin/$script" >&2`);
    expect(a).toContain(
      `step_delete() { k3s_uninstall "k3s agent" k3s-agent-uninstall.sh "$config_file" "$token_file" "$node_password_file"; }`,
    );
    expect(a).toContain("readonly node_password_file=/etc/rancher/node/password\n");
    expect(rendered["server-no-gates"]).toContain(
      `step_delete() { k3s_uninstall "k3s server" k3s-uninstall.sh "$config_file"; }`,
    );
    expect(a).not.toContain("agent-leave");
  });

  it("delete an agent's Node and node-password secret on the server", () => {
    const d = rendered.node;
    expect(d).toContain("readonly node_name=Pi-4\nreadonly node_password_secret=pi-4.node-password.k3s\n");
    expect(d).toContain(`k3s kubectl delete node "$node_name" --ignore-not-found`);
    expect(d).toContain(`k3s kubectl -n kube-system delete secret "$node_password_secret" --ignore-not-found`);
  });

  it("print the credentials last, after every check that can fail, as JSON the parser reads", () => {
    const lines = rendered.credentials.split("\n");
    const printed = lines.findIndex((l) => l.trim().startsWith("output "));
    expect(lines[printed]).toBe(`  output "$(json_object token "$token" kubeconfig "$kubeconfig")"`);
    expect(lines.slice(printed + 1, printed + 3)).toEqual([
      `  unchanged "read the join token and kubeconfig of cluster $cluster"`,
      "}",
    ]);
    expect(lines.slice(0, printed).join("\n")).toContain("does not point at https://127.0.0.1:$api_port");
  });

  it("close SSH before the Pi's reboot, so no step can start in the 2 s before it", () => {
    const s = rendered["pi-cgroups"];
    const reboot = s.indexOf("nohup sh -c 'sleep 2; reboot'");
    const stop = s.indexOf("systemctl stop ssh.service");
    const result = s.indexOf(`changed "$what; rebooting`);
    expect(reboot).toBeGreaterThan(0);
    expect(stop).toBeGreaterThan(reboot);
    expect(result).toBeGreaterThan(stop);
    expect(rendered["memory-cgroup"]).toContain("grep -qw memory /sys/fs/cgroup/cgroup.controllers");
  });
});

describe("the credentials step and its parser", () => {
  /** Runs the credentials program against a server's files in a temporary directory. */
  function run(token: string, kubeconfig: string) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k3s-creds-"));
    fs.mkdirSync(path.join(dir, "server"));
    fs.writeFileSync(path.join(dir, "server/node-token"), token);
    fs.writeFileSync(path.join(dir, "k3s.yaml"), kubeconfig);
    const script = credentialsScript({ ...cluster, dataDir: dir } as ClusterSpec);
    const text = stepProgram("k3s-credentials", {
      ...script,
      values: { ...script.values, kubeconfig_file: path.join(dir, "k3s.yaml") },
    });
    const r = spawnSync("bash", ["-s", "--", "create"], { input: text, encoding: "utf8" });
    fs.rmSync(dir, { recursive: true });
    return r;
  }

  it("reads back what the step printed: the token, and the kubeconfig pointed at the server", () => {
    const kubeconfig =
      'apiVersion: v1\nclusters:\n- cluster:\n    server: https://127.0.0.1:6443\n  name: "de\\fault"\n';
    const r = run("K10abc\"\\::server:p'w\n", kubeconfig);
    expect(r.stderr).toBe("");
    expect(readCredentials("edge", r.stdout, "https://198.19.0.21:6443")).toEqual({
      token: `K10abc"\\::server:p'w`,
      kubeconfig: kubeconfig.replace("127.0.0.1:6443", "198.19.0.21:6443"),
    });
  });

  it("refuses a kubeconfig that is not on 127.0.0.1:6443 and a token not in k3s' form, without printing it", () => {
    const local = "    server: https://127.0.0.1:6443\n";
    const away = run("K10abc::server:pw", "    server: https://10.0.0.1:6443\n");
    expect(away.status).toBe(1);
    expect(away.stderr).toContain("does not point at https://127.0.0.1:6443");
    const bad = run("not-a-token-s3cr3t", local);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain("is not in k3s' K10<CA hash>::<credentials> form (its value is not shown)");
    expect(`${bad.stdout}${bad.stderr}`).not.toContain("s3cr3t");
  });
});

describe("the agent's refusal check", () => {
  it("finds a refusal early in a long journal (grep -q under pipefail used to lose it to journalctl's SIGPIPE)", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "testbed-journal-"));
    // A journal whose refusal comes first, then far more than a pipe holds: grep -q stops early, journalctl is cut.
    fs.writeFileSync(
      path.join(dir, "journalctl"),
      '#!/bin/sh\necho "level=error msg=\\"Failed to validate connection: 401 Unauthorized\\""\nyes "k3s agent log line" | head -n 200000\n',
      { mode: 0o755 },
    );
    const program = [
      "set -euo pipefail",
      valueLine("service", "k3s-agent"),
      valueLine("since", "@0"),
      valueLine("refused_when", ["401 Unauthorized", "Node password rejected"]),
      readShellFile(path.join(__dirname), "agent.sh"),
      'if k3s_refused; then echo refused; else echo "not refused"; fi',
    ].join("\n");
    const r = spawnSync("bash", ["-s"], {
      input: program,
      encoding: "utf8",
      env: { ...process.env, PATH: `${dir}:${process.env.PATH}` },
    });
    expect(r.stdout.trim()).toBe("refused");
  });
});

describe("the Jetson's runtime check", () => {
  const registered = (toml: string) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "testbed-containerd-"));
    fs.writeFileSync(path.join(dir, "config.toml"), toml);
    const program = [
      "set -euo pipefail",
      valueLine("containerd_config", path.join(dir, "config.toml")),
      readShellFile(path.join(__dirname), "agent.sh"),
      "if nvidia_registered; then echo registered; else echo missing; fi",
    ].join("\n");
    return spawnSync("bash", ["-s"], { input: program, encoding: "utf8" }).stdout.trim();
  };

  it("takes the runtime's table for registration, not default_runtime_name, which k3s writes either way", () => {
    const head = '[plugins."io.containerd.grpc.v1.cri".containerd]\n  default_runtime_name = "nvidia"\n';
    expect(registered(head)).toBe("missing");
    expect(registered(`${head}[plugins."io.containerd.grpc.v1.cri".containerd.runtimes."nvidia"]\n`)).toBe(
      "registered",
    );
    // Config version 3 (containerd 2) quotes with '.
    expect(registered("[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.'nvidia']\n")).toBe("registered");
    expect(registered('[plugins."io.containerd.grpc.v1.cri".containerd.runtimes."nvidia-cdi"]\n')).toBe("missing");
  });
});
