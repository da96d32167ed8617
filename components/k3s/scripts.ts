import { stringify } from "yaml";
import type { ClusterSpec } from "../spec";
import { type ScriptValue, type StepScript, readShellFile, shq } from "../remote/script";

/** Where k3s reads its configuration (k3s docs, "Configuration File"). */
export const K3S_CONFIG = "/etc/rancher/k3s/config.yaml";
/** The server's kubeconfig, written by k3s. */
export const K3S_KUBECONFIG = "/etc/rancher/k3s/k3s.yaml";
/** The agent's join token file, named by its config.yaml (token-file). */
export const K3S_TOKEN_FILE = "/etc/rancher/k3s/token";
/** The node's password, made by the agent at its first join; the server keeps its hash in a secret. */
export const K3S_NODE_PASSWORD = "/etc/rancher/node/password";
/** The k3s supervisor/API port agents join on. */
export const K3S_API_PORT = 6443;
/** Readiness waits: 60 tries 5 s apart; a k3s server is usually ready in 20-60 s. */
export const K3S_READY_ATTEMPTS = 60;
export const K3S_READY_INTERVAL_S = 5;
/** Kernel arguments k3s needs on a Raspberry Pi for the memory cgroup (k3s docs, "Raspberry Pi"). */
export const PI_CGROUP_FLAGS = ["cgroup_memory=1", "cgroup_enable=memory"];

/** The config.yaml for a server (mode 0600: it may hold the token). */
export function serverConfig(
  cluster: ClusterSpec,
  nodeName: string,
  nodeIp: string | undefined,
  labels: Record<string, string>,
): string {
  const config: Record<string, unknown> = {
    "node-name": nodeName,
    "cluster-cidr": cluster.podCidr,
    "service-cidr": cluster.serviceCidr,
    "data-dir": cluster.dataDir,
    "write-kubeconfig-mode": "0600",
    ...(nodeIp ? { "node-ip": nodeIp, "tls-san": [nodeIp] } : {}),
    "node-label": Object.entries(labels).map(([k, v]) => `${k}=${v}`),
  };
  return stringify(config);
}

/**
 * The config.yaml for an agent; the token goes in a separate 0600 file the config points to. An agent keeps its
 * data in `dataDir` too (k3s' default otherwise): the readiness check, the nvidia check and the uninstall look there.
 */
export function agentConfig(
  serverUrl: string,
  nodeName: string,
  nodeIp: string | undefined,
  labels: Record<string, string>,
  extra: Record<string, unknown> = {},
  dataDir?: string,
): string {
  return stringify({
    server: serverUrl,
    "node-name": nodeName,
    "token-file": K3S_TOKEN_FILE,
    ...(dataDir ? { "data-dir": dataDir } : {}),
    ...(nodeIp ? { "node-ip": nodeIp } : {}),
    "node-label": Object.entries(labels).map(([k, v]) => `${k}=${v}`),
    ...extra,
  });
}

/** How many journal lines a failed start quotes. */
export const JOURNAL_LINES = 20;

/**
 * Agent log lines that no wait will cure: the server refused the token, or holds another password for this node
 * name (a re-imaged board whose old Node was never deleted). k3s retries these forever; the step fails at once.
 */
export const AGENT_REFUSED = ["401 Unauthorized", "Node password rejected"];

/** A file's content as the install writes and compares it: `$(cat)` drops trailing newlines, so without them. */
function fileContent(content: string): string {
  return content.replace(/\n+$/, "");
}

/**
 * The values install.sh reads: version, installer, and how k3s is run. INSTALL_K3S_EXEC is one string of shell
 * words, which the installer splits (k3s-io/k3s install.sh, `eval set -- $(escape "${INSTALL_K3S_EXEC}")`).
 */
function installValues(role: "server" | "agent", cluster: ClusterSpec, host: string): Record<string, ScriptValue> {
  return {
    host,
    cluster: cluster.name,
    k3s_version: cluster.k3sVersion,
    install_script_url: cluster.installScriptUrl,
    k3s_exec: [role, ...cluster.extraArgs].map(shq).join(" "),
    data_dir: cluster.dataDir,
    config_file: K3S_CONFIG,
    ready_attempts: K3S_READY_ATTEMPTS,
    ready_interval_s: K3S_READY_INTERVAL_S,
    journal_lines: JOURNAL_LINES,
  };
}

/** install.sh (config files, install, start, bounded wait; uninstall), then the role's own body. */
function installBody(role: "server" | "agent"): string {
  return `${readShellFile(__dirname, "install.sh")}\n\n${readShellFile(__dirname, `${role}.sh`)}`;
}

/** The k3s server step (server.sh): config, install, wait for the API and the join token. */
export function serverScript(cluster: ClusterSpec, config: string, gates: string[] = [], host = "server"): StepScript {
  return {
    values: { ...installValues("server", cluster, host), config: fileContent(config), gates },
    body: installBody("server"),
  };
}

/** Reads the join token and an admin kubeconfig (credentials.sh); its stdout is secret. */
export function credentialsScript(cluster: ClusterSpec): StepScript {
  return {
    values: {
      cluster: cluster.name,
      data_dir: cluster.dataDir,
      kubeconfig_file: K3S_KUBECONFIG,
      api_port: K3S_API_PORT,
    },
    body: readShellFile(__dirname, "credentials.sh"),
  };
}

/** Where k3s writes containerd's config on an agent; `nvidia` in it means the runtime is registered (k3s docs). */
export function containerdConfig(cluster: ClusterSpec): string {
  return `${cluster.dataDir}/agent/etc/containerd/config.toml`;
}

/**
 * The k3s agent step (agent.sh): token file (0600), config, install, start, a bounded wait for this node Ready; on
 * a Jetson (`nvidia`), containerd's config must then name the nvidia runtime.
 */
export function agentScript(
  cluster: ClusterSpec,
  config: string,
  token: string,
  opts: { host?: string; nodeName?: string; nvidia?: boolean } = {},
): StepScript {
  const host = opts.host ?? "agent";
  return {
    values: {
      ...installValues("agent", cluster, host),
      config: fileContent(config),
      token_file: K3S_TOKEN_FILE,
      token: fileContent(token),
      node_password_file: K3S_NODE_PASSWORD,
      node_name: opts.nodeName ?? host,
      nvidia: opts.nvidia ?? false,
      containerd_config: containerdConfig(cluster),
      refused_when: AGENT_REFUSED,
    },
    body: installBody("agent"),
  };
}

/**
 * On the server, one per agent (node.sh): nothing to create; its delete, which Pulumi runs before the agent's
 * uninstall (this step depends on it), removes the Node and its node-password secret.
 */
export function nodeScript(cluster: ClusterSpec, node: string): StepScript {
  return {
    values: {
      cluster: cluster.name,
      node_name: node,
      node_password_secret: `${node.toLowerCase()}.node-password.k3s`,
    },
    body: readShellFile(__dirname, "node.sh"),
  };
}

/** On the server: waits until every node of the cluster is Ready (nodes-ready.sh). */
export function nodesReadyScript(cluster: ClusterSpec, nodes: string[]): StepScript {
  return {
    values: {
      cluster: cluster.name,
      nodes,
      ready_attempts: K3S_READY_ATTEMPTS,
      ready_interval_s: K3S_READY_INTERVAL_S,
    },
    body: readShellFile(__dirname, "nodes-ready.sh"),
  };
}

/** cgroup.sh (the memory cgroup test), then a Raspberry Pi step's own body. */
function cgroupBody(name: string): string {
  return `${readShellFile(__dirname, "cgroup.sh")}\n\n${readShellFile(__dirname, name)}`;
}

/**
 * How many dials the step after a reboot may take: pulumi-command retries a failed dial after 0.1 s, 1.5 times
 * longer each time up to 5 s (pulumi sdk retry.Until defaults, used by dialWithRetry in
 * provider/pkg/provider/remote/connection.go, v1.2.1), so 10 dials cover only ~8 s of a refused port and 45 cover
 * about 3 minutes; a Raspberry Pi reboots in 30-90 s.
 */
export const REBOOT_DIAL_ERROR_LIMIT = 45;

/**
 * Raspberry Pi (pi-cgroups.sh): the memory cgroup flags go into cmdline.txt, and the Pi reboots if the running
 * kernel lacks the controller, closing sshd's listener first; memoryCgroupScript, dialling with
 * REBOOT_DIAL_ERROR_LIMIT, is the next step.
 */
export function piCgroupScript(): StepScript {
  return { values: { cgroup_flags: PI_CGROUP_FLAGS }, body: cgroupBody("pi-cgroups.sh") };
}

/**
 * Raspberry Pi, after piCgroupScript (memory-cgroup.sh): the first step to connect after its reboot (its dial waits
 * for the Pi, up to REBOOT_DIAL_ERROR_LIMIT dials), and the check that the reboot gave k3s its memory cgroup.
 */
export function memoryCgroupScript(host: string): StepScript {
  return { values: { host, cgroup_flags: PI_CGROUP_FLAGS }, body: cgroupBody("memory-cgroup.sh") };
}

/** Where k3s looks for nvidia-container-runtime, in its order (k3s-io/k3s pkg/agent/containerd/runtimes.go). */
export const NVIDIA_RUNTIME_DIRS = ["/usr/local/nvidia/toolkit", "/usr/bin"];

/**
 * Jetson (jetson-runtime.sh): k3s registers the `nvidia` runtime only if nvidia-container-runtime is a file in one
 * of NVIDIA_RUNTIME_DIRS when it starts. The agent's step then confirms containerd's config names it.
 */
export function jetsonRuntimeScript(host = "jetson"): StepScript {
  return { values: { host, runtime_dirs: NVIDIA_RUNTIME_DIRS }, body: readShellFile(__dirname, "jetson-runtime.sh") };
}
