import { stringify } from "yaml";
import type { ClusterSpec } from "../spec";
import { type InlineStepScript, shq } from "../remote/script";

/** Where k3s reads its configuration (k3s docs, "Configuration File"). */
export const K3S_CONFIG = "/etc/rancher/k3s/config.yaml";
/** The server's kubeconfig, written by k3s. */
export const K3S_KUBECONFIG = "/etc/rancher/k3s/k3s.yaml";
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

/** The config.yaml for an agent; the token goes in a separate 0600 file the config points to. */
export function agentConfig(
  serverUrl: string,
  nodeName: string,
  nodeIp: string | undefined,
  labels: Record<string, string>,
  extra: Record<string, unknown> = {},
): string {
  return stringify({
    server: serverUrl,
    "node-name": nodeName,
    "token-file": "/etc/rancher/k3s/token",
    ...(nodeIp ? { "node-ip": nodeIp } : {}),
    "node-label": Object.entries(labels).map(([k, v]) => `${k}=${v}`),
    ...extra,
  });
}

/** Bash lines that write `content` to `file` with mode 0600 only if it differs; sets $config_changed. */
function writeIfChanged(file: string, content: string): string {
  // $(cat) drops trailing newlines, so compare (and write) the content without them.
  return `mkdir -p "$(dirname ${shq(file)})"
new_content=${shq(content.replace(/\n+$/, ""))}
if [ ! -f ${shq(file)} ] || [ "$(cat ${shq(file)})" != "$new_content" ]; then
  (umask 077 && printf '%s\\n' "$new_content" > ${shq(file)}.tmp && mv ${shq(file)}.tmp ${shq(file)})
  config_changed=yes
fi
chmod 0600 ${shq(file)}`;
}

/**
 * Installs (or re-configures) k3s with the upstream installer: skipped when the same version is installed and
 * the configuration is unchanged. The installer is fetched to a file first, so a failed download is an error
 * rather than an empty script piped to sh.
 */
function installBody(opts: {
  role: "server" | "agent";
  version: string;
  installUrl: string;
  files: Record<string, string>;
  extraArgs: string[];
  readyCheck: string;
  readyWhat: string;
}): string {
  const service = opts.role === "server" ? "k3s" : "k3s-agent";
  const exec = [opts.role, ...opts.extraArgs].map(shq).join(" ");
  return `config_changed=no
${Object.entries(opts.files)
  .map(([f, c]) => writeIfChanged(f, c))
  .join("\n")}
installed="$(/usr/local/bin/k3s --version 2>/dev/null | head -n1 | awk '{print $3}' || true)"
if [ "$installed" = ${shq(opts.version)} ] && [ "$config_changed" = no ] && [ -x /usr/local/bin/${service === "k3s" ? "k3s-uninstall.sh" : "k3s-agent-uninstall.sh"} ]; then
  state=unchanged
else
  installer="$(mktemp)"
  trap 'rm -f "$installer"' EXIT
  curl -sfL ${shq(opts.installUrl)} -o "$installer" || fail "could not download the k3s installer from ${opts.installUrl}"
  INSTALL_K3S_VERSION=${shq(opts.version)} INSTALL_K3S_EXEC=${shq(exec)} sh "$installer" >&2
  state=changed
fi
ready=no
for i in $(seq 1 ${K3S_READY_ATTEMPTS}); do
  if ${opts.readyCheck}; then ready=yes; break; fi
  echo "waiting for ${opts.readyWhat}, attempt $i/${K3S_READY_ATTEMPTS}" >&2
  sleep ${K3S_READY_INTERVAL_S}
done
[ "$ready" = yes ] || fail "${opts.readyWhat} not ready after $((${K3S_READY_ATTEMPTS} * ${K3S_READY_INTERVAL_S})) s; see 'journalctl -u ${service}'"`;
}

/** The k3s server step: config, install, wait for the API and the join token. */
export function serverScript(cluster: ClusterSpec, config: string, gates: string[] = []): InlineStepScript {
  const token = `${cluster.dataDir}/server/node-token`;
  const gateLine = gates.length > 0 ? `echo ${shq(`disk gates on this host: ${gates.join(", ")}`)} >&2\n` : "";
  return {
    create: `${gateLine}${installBody({
      role: "server",
      version: cluster.k3sVersion,
      installUrl: cluster.installScriptUrl,
      files: { [K3S_CONFIG]: config },
      extraArgs: cluster.extraArgs,
      readyCheck: `[ -s ${shq(token)} ] && /usr/local/bin/k3s kubectl get --raw=/readyz >/dev/null 2>&1`,
      readyWhat: `the k3s server of cluster ${cluster.name}`,
    })}
$state "k3s server ${cluster.k3sVersion} (cluster ${cluster.name})"`,
    delete: `
if [ -x /usr/local/bin/k3s-uninstall.sh ]; then
  /usr/local/bin/k3s-uninstall.sh >&2
  rm -f ${K3S_CONFIG}
  changed "k3s server uninstalled"
else
  rm -f ${K3S_CONFIG}
  unchanged "k3s server not installed"
fi`,
  };
}

/**
 * Reads the join token and an admin kubeconfig pointing at `address` instead of 127.0.0.1. Its stdout is secret:
 * the step runs with logging off and its outputs are wrapped in pulumi.secret.
 */
export function credentialsScript(cluster: ClusterSpec): InlineStepScript {
  const token = `${cluster.dataDir}/server/node-token`;
  return {
    create: `
[ -s ${shq(token)} ] || fail "no join token at ${token}: is the k3s server running?"
[ -s ${K3S_KUBECONFIG} ] || fail "no kubeconfig at ${K3S_KUBECONFIG}: is the k3s server running?"
token="$(cat ${shq(token)})"
kubeconfig="$(base64 -w0 < ${K3S_KUBECONFIG})"
output "{\\"token\\":\\"$token\\",\\"kubeconfig\\":\\"$kubeconfig\\"}"
unchanged "read the join token and kubeconfig of cluster ${cluster.name}"`,
  };
}

/** The k3s agent step: token file (0600), config, install, wait for the agent's kubelet config. */
export function agentScript(cluster: ClusterSpec, config: string, token: string): InlineStepScript {
  return {
    create: `${installBody({
      role: "agent",
      version: cluster.k3sVersion,
      installUrl: cluster.installScriptUrl,
      files: { "/etc/rancher/k3s/token": token, [K3S_CONFIG]: config },
      extraArgs: cluster.extraArgs,
      readyCheck: `[ -x /usr/local/bin/k3s-agent-uninstall.sh ]`,
      readyWhat: `the k3s agent of cluster ${cluster.name}`,
    })}
$state "k3s agent ${cluster.k3sVersion} (cluster ${cluster.name})"`,
    delete: `
if [ -x /usr/local/bin/k3s-agent-uninstall.sh ]; then
  /usr/local/bin/k3s-agent-uninstall.sh >&2
  rm -f ${K3S_CONFIG} /etc/rancher/k3s/token
  changed "k3s agent uninstalled"
else
  rm -f ${K3S_CONFIG} /etc/rancher/k3s/token
  unchanged "k3s agent not installed"
fi`,
  };
}

/** On the server: waits until every node of the cluster is Ready. */
export function nodesReadyScript(cluster: ClusterSpec, nodes: string[]): InlineStepScript {
  const list = nodes.map(shq).join(" ");
  return {
    create: `
for i in $(seq 1 ${K3S_READY_ATTEMPTS}); do
  missing=""
  for node in ${list}; do
    status="$(/usr/local/bin/k3s kubectl get node "$node" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null || true)"
    [ "$status" = True ] || missing="$missing $node"
  done
  [ -z "$missing" ] && break
  echo "waiting for nodes to be Ready in cluster ${cluster.name}:$missing (attempt $i/${K3S_READY_ATTEMPTS})" >&2
  sleep ${K3S_READY_INTERVAL_S}
done
[ -z "$missing" ] || fail "cluster ${cluster.name}: nodes not Ready after $((${K3S_READY_ATTEMPTS} * ${K3S_READY_INTERVAL_S})) s:$missing"
unchanged "cluster ${cluster.name}: ${nodes.length} node(s) Ready"`,
  };
}

/**
 * Raspberry Pi: k3s needs the memory cgroup. The flags go into cmdline.txt (backed up once, restored on delete);
 * the Pi is rebooted only when the running kernel lacks the memory controller, and the step waits for nothing
 * itself: the next step's SSH dial retries cover the reboot.
 */
export function piCgroupScript(): InlineStepScript {
  const flags = PI_CGROUP_FLAGS.join(" ");
  return {
    create: `
cmdline=""
for f in /boot/firmware/cmdline.txt /boot/cmdline.txt; do [ -f "$f" ] && { cmdline="$f"; break; }; done
[ -n "$cmdline" ] || fail "no cmdline.txt in /boot/firmware or /boot: is this a Raspberry Pi? (hosts.*.board)"
missing=""
for flag in ${flags}; do grep -qw -- "$flag" "$cmdline" || missing="$missing $flag"; done
if [ -n "$missing" ]; then
  [ -f "$cmdline.testbed-orig" ] || cp -p "$cmdline" "$cmdline.testbed-orig"
  sed -i "1 s/\\$/$missing/" "$cmdline"
  what="added$missing to $cmdline"
else
  what="$cmdline has ${flags}"
fi
if grep -qw memory /sys/fs/cgroup/cgroup.controllers 2>/dev/null || grep -q '^memory.*1$' /proc/cgroups 2>/dev/null; then
  if [ -n "$missing" ]; then changed "$what"; else unchanged "$what; memory cgroup enabled"; fi
else
  nohup sh -c 'sleep 2; reboot' >/dev/null 2>&1 &
  changed "$what; rebooting to enable the memory cgroup"
fi`,
    delete: `
for f in /boot/firmware/cmdline.txt /boot/cmdline.txt; do
  if [ -f "$f.testbed-orig" ]; then mv "$f.testbed-orig" "$f"; changed "restored $f"; exit 0; fi
done
unchanged "cmdline.txt was not changed"`,
  };
}

/** Jetson: k3s picks up the NVIDIA container runtime at start only if the toolkit is already installed. */
export function jetsonRuntimeScript(): InlineStepScript {
  return {
    create: `
command -v nvidia-container-runtime >/dev/null || command -v nvidia-ctk >/dev/null \\
  || fail "the NVIDIA container toolkit is missing (JetPack ships it; apt-get install nvidia-container-toolkit)"
gpu="$(nvidia-smi -L 2>/dev/null | head -n1 || true)"
unchanged "NVIDIA container runtime present\${gpu:+; $gpu}"`,
  };
}
