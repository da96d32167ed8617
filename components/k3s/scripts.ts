import { stringify } from "yaml";
import type { ClusterSpec } from "../spec";
import { type InlineStepScript, shq } from "../remote/script";

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

/** How many journal lines a failed start quotes. */
export const JOURNAL_LINES = 20;

/**
 * Agent log lines that no wait will cure: the server refused the token, or holds another password for this node
 * name (a re-imaged board whose old Node was never deleted). k3s retries these forever; the step fails at once.
 */
export const AGENT_REFUSED = ["401 Unauthorized", "Node password rejected"];

/**
 * Installs (or re-configures) k3s with the upstream installer, then starts it without waiting and waits, bounded,
 * for it to be ready. Nothing is run when the same version is installed and running with the same configuration.
 *
 * The installer is told not to start k3s (INSTALL_K3S_SKIP_START), for two reasons (k3s-io/k3s install.sh,
 * service_enable_and_start()): it restarts k3s only when the binary, the unit or its env file changed, never for
 * config.yaml alone, so a changed label, node-ip, server URL or token would be written and never applied; and its
 * `systemctl restart` of a Type=notify unit with TimeoutStartSec=0 never returns for an agent that cannot join.
 * So the step restarts k3s itself, with --no-block, whenever anything changed, and waits with its own bound.
 * The installer is fetched to a file first, so a failed download is an error rather than an empty script piped to sh.
 */
function installBody(opts: {
  role: "server" | "agent";
  host: string;
  cluster: ClusterSpec;
  files: Record<string, string>;
  readyCheck: string;
  readyWhat: string;
  /** A condition under which a running k3s must be restarted even though nothing above changed. */
  stale?: string;
  /** Journal lines after which waiting is pointless. */
  refusedWhen?: string[];
}): string {
  const { cluster } = opts;
  const service = opts.role === "server" ? "k3s" : "k3s-agent";
  const uninstall = opts.role === "server" ? "k3s-uninstall.sh" : "k3s-agent-uninstall.sh";
  const exec = [opts.role, ...cluster.extraArgs].map(shq).join(" ");
  const journal = `journalctl -u ${service} -n ${JOURNAL_LINES} --no-pager --since "$since" 2>&1 || true`;
  const refused = opts.refusedWhen?.length
    ? `
  if journalctl -u ${service} --no-pager --since "$since" 2>/dev/null | grep -qF ${opts.refusedWhen.map((r) => `-e ${shq(r)}`).join(" ")}; then
    fail "host ${opts.host}: ${opts.readyWhat} was refused; the last lines of its journal:
$(${journal})"
  fi`
    : "";
  return `config_changed=no
${Object.entries(opts.files)
  .map(([f, c]) => writeIfChanged(f, c))
  .join("\n")}
since="@$(date +%s)"
installed="$(/usr/local/bin/k3s --version 2>/dev/null | head -n1 | awk '{print $3}' || true)"
if [ "$installed" = ${shq(cluster.k3sVersion)} ] && [ "$config_changed" = no ] && [ -x /usr/local/bin/${uninstall} ] \\
  && systemctl is-active --quiet ${service}${opts.stale ? ` && ! { ${opts.stale}; }` : ""}; then
  state=unchanged
else
  installer="$(mktemp)"
  trap 'rm -f "$installer"' EXIT
  curl -sfL ${shq(cluster.installScriptUrl)} -o "$installer" || fail ${shq(`could not download the k3s installer from ${cluster.installScriptUrl}`)}
  INSTALL_K3S_SKIP_START=true INSTALL_K3S_VERSION=${shq(cluster.k3sVersion)} INSTALL_K3S_EXEC=${shq(exec)} sh "$installer" >&2
  systemctl restart --no-block ${service}
  state=changed
fi
ready=no
for i in $(seq 1 ${K3S_READY_ATTEMPTS}); do
  if ${opts.readyCheck}; then ready=yes; break; fi${refused}
  echo "waiting for ${opts.readyWhat}, attempt $i/${K3S_READY_ATTEMPTS}" >&2
  sleep ${K3S_READY_INTERVAL_S}
done
[ "$ready" = yes ] || fail "host ${opts.host}: ${opts.readyWhat} not ready after $((${K3S_READY_ATTEMPTS} * ${K3S_READY_INTERVAL_S})) s; the last lines of its journal:
$(${journal})"`;
}

/** The uninstall, told where k3s keeps its data: the scripts read K3S_DATA_DIR, not config.yaml. */
function uninstallBody(what: string, script: string, dataDir: string, files: string[]): string {
  return `
if [ -x /usr/local/bin/${script} ]; then
  K3S_DATA_DIR=${shq(dataDir)} /usr/local/bin/${script} >&2
  rm -f ${files.join(" ")}
  changed ${shq(`${what} uninstalled (data in ${dataDir} removed)`)}
else
  rm -f ${files.join(" ")}
  unchanged "${what} not installed"
fi`;
}

/** The k3s server step: config, install, wait for the API and the join token. */
export function serverScript(
  cluster: ClusterSpec,
  config: string,
  gates: string[] = [],
  host = "server",
): InlineStepScript {
  const token = `${cluster.dataDir}/server/node-token`;
  const gateLine = gates.length > 0 ? `echo ${shq(`disk gates on this host: ${gates.join(", ")}`)} >&2\n` : "";
  return {
    create: `${gateLine}${installBody({
      role: "server",
      host,
      cluster,
      files: { [K3S_CONFIG]: config },
      readyCheck: `[ -s ${shq(token)} ] && /usr/local/bin/k3s kubectl get --raw=/readyz >/dev/null 2>&1`,
      readyWhat: `the k3s server of cluster ${cluster.name}`,
    })}
$state "k3s server ${cluster.k3sVersion} (cluster ${cluster.name})"`,
    delete: uninstallBody("k3s server", "k3s-uninstall.sh", cluster.dataDir, [K3S_CONFIG]),
  };
}

/**
 * Reads the join token and an admin kubeconfig pointing at `address` instead of 127.0.0.1. Its stdout is secret:
 * the step runs with logging off and its outputs are wrapped in pulumi.secret. pulumi-command puts the whole
 * output of a failed command into its error even then (provider/pkg/provider/remote/commandOutputs.go, v1.2.1,
 * lines 77-101), so every check that can fail comes before the one line that prints the secrets.
 */
export function credentialsScript(cluster: ClusterSpec): InlineStepScript {
  const token = `${cluster.dataDir}/server/node-token`;
  return {
    create: `
[ -s ${shq(token)} ] || fail ${shq(`no join token at ${token}: is the k3s server running?`)}
[ -s ${K3S_KUBECONFIG} ] || fail "no kubeconfig at ${K3S_KUBECONFIG}: is the k3s server running?"
grep -q '^ *server: https://127\\.0\\.0\\.1:${K3S_API_PORT}$' ${K3S_KUBECONFIG} \\
  || fail "the kubeconfig at ${K3S_KUBECONFIG} does not point at https://127.0.0.1:${K3S_API_PORT}, the address this step replaces with the server's; check clusters.${cluster.name}.extraArgs"
token="$(cat ${shq(token)})"
case "$token" in
  K10*::*) ;;
  *) fail ${shq(`the join token at ${token} is not in k3s' K10<CA hash>::<credentials> form (its value is not shown)`)} ;;
esac
kubeconfig="$(base64 -w0 < ${K3S_KUBECONFIG})"
# Last, and nothing after it can fail.
output "{\\"token\\":\\"$token\\",\\"kubeconfig\\":\\"$kubeconfig\\"}"
unchanged "read the join token and kubeconfig of cluster ${cluster.name}"`,
  };
}

/** Where k3s writes containerd's config on an agent; `nvidia` in it means the runtime is registered (k3s docs). */
export function containerdConfig(cluster: ClusterSpec): string {
  return `${cluster.dataDir}/agent/etc/containerd/config.toml`;
}

/**
 * The k3s agent step: token file (0600), config, install, start; then it waits, bounded, until the server reports
 * this node Ready (asked with the agent's own kubelet credentials, which may read their own Node). On a Jetson
 * (`nvidia`), containerd's config must then name the nvidia runtime, and a k3s started before the runtime existed
 * is restarted (k3s looks for it at start only).
 */
export function agentScript(
  cluster: ClusterSpec,
  config: string,
  token: string,
  opts: { host?: string; nodeName?: string; nvidia?: boolean } = {},
): InlineStepScript {
  const host = opts.host ?? "agent";
  const node = opts.nodeName ?? host;
  const kubeconfig = `${cluster.dataDir}/agent/kubelet.kubeconfig`;
  const toml = containerdConfig(cluster);
  const nvidiaCheck = `grep -q nvidia ${shq(toml)} 2>/dev/null`;
  return {
    create: `${installBody({
      role: "agent",
      host,
      cluster,
      files: { [K3S_TOKEN_FILE]: token, [K3S_CONFIG]: config },
      readyCheck: `[ "$(/usr/local/bin/k3s kubectl --kubeconfig ${shq(kubeconfig)} get node ${shq(node)} -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]`,
      readyWhat: `the k3s agent ${node} of cluster ${cluster.name}`,
      stale: opts.nvidia ? `! ${nvidiaCheck}` : undefined,
      refusedWhen: AGENT_REFUSED,
    })}
${
  opts.nvidia
    ? `${nvidiaCheck} || fail ${shq(`host ${host}: k3s started without the nvidia runtime: ${toml} does not name it, so every pod (default-runtime nvidia) would fail; see 'journalctl -u k3s-agent' for where k3s looked`)}\n`
    : ""
}$state "k3s agent ${cluster.k3sVersion} (cluster ${cluster.name})${opts.nvidia ? "; nvidia runtime registered" : ""}"`,
    // The node password goes too: the server forgot it with the Node (nodeScript's delete runs first), and a
    // reinstall then joins under a new one. k3s' uninstall script keeps /etc/rancher/node.
    delete: uninstallBody("k3s agent", "k3s-agent-uninstall.sh", cluster.dataDir, [
      K3S_CONFIG,
      K3S_TOKEN_FILE,
      K3S_NODE_PASSWORD,
    ]),
  };
}

/**
 * On the server, one per agent: nothing to create (the agent's step waited for its node); its delete, which Pulumi
 * runs before the agent's uninstall (this step depends on it), removes the Node and its node-password secret. k3s
 * has no "agent leave": without this, a re-imaged board (a new /etc/rancher/node/password) is refused when it
 * rejoins under the same name (k3s-io/k3s pkg/nodepassword/nodepassword.go, Ensure()).
 */
export function nodeScript(cluster: ClusterSpec, node: string): InlineStepScript {
  const secret = `${node.toLowerCase()}.node-password.k3s`;
  return {
    create: `
/usr/local/bin/k3s kubectl get node ${shq(node)} >/dev/null || fail "cluster ${cluster.name} has no node ${node}"
unchanged "node ${node} is in cluster ${cluster.name}"`,
    delete: `
if [ -x /usr/local/bin/k3s ] && /usr/local/bin/k3s kubectl get --raw=/readyz >/dev/null 2>&1; then
  /usr/local/bin/k3s kubectl delete node ${shq(node)} --ignore-not-found >&2
  /usr/local/bin/k3s kubectl -n kube-system delete secret ${shq(secret)} --ignore-not-found >&2
  changed "removed node ${node} and its node-password secret from cluster ${cluster.name}"
else
  unchanged "the k3s server of cluster ${cluster.name} is not running: no node to remove"
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

/** The test for the memory cgroup k3s needs, in the running kernel (cgroup v2, then v1). */
const MEMORY_CGROUP = `grep -qw memory /sys/fs/cgroup/cgroup.controllers 2>/dev/null || grep -q '^memory.*1$' /proc/cgroups 2>/dev/null`;

/**
 * How many dials the step after a reboot may take: pulumi-command retries a failed dial after 0.1 s, 1.5 times
 * longer each time up to 5 s (pulumi sdk retry.Until defaults, used by dialWithRetry in
 * provider/pkg/provider/remote/connection.go, v1.2.1), so 10 dials cover only ~8 s of a refused port and 45 cover
 * about 3 minutes; a Raspberry Pi reboots in 30-90 s.
 */
export const REBOOT_DIAL_ERROR_LIMIT = 45;

/**
 * Raspberry Pi: k3s needs the memory cgroup. The flags go into cmdline.txt (backed up once, restored on delete);
 * the Pi is rebooted only when the running kernel lacks the memory controller. The reboot fires 2 s after the step
 * returns (so that its result gets out): a step that connected in between would be killed by it. So before
 * returning, the step stops sshd's listener (sessions, this one included, stay: Debian's ssh.service has
 * KillMode=process): the next step's dial is refused until the Pi is back, and memoryCgroupScript, dialling with
 * REBOOT_DIAL_ERROR_LIMIT, is that next step.
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
if ${MEMORY_CGROUP}; then
  if [ -n "$missing" ]; then changed "$what"; else unchanged "$what; memory cgroup enabled"; fi
else
  nohup sh -c 'sleep 2; reboot' >/dev/null 2>&1 &
  systemctl stop ssh.socket >/dev/null 2>&1 || true
  systemctl stop ssh.service >&2 || fail "could not stop sshd before the reboot (a step connecting now would be killed by it)"
  changed "$what; rebooting to enable the memory cgroup"
fi`,
    delete: `
for f in /boot/firmware/cmdline.txt /boot/cmdline.txt; do
  if [ -f "$f.testbed-orig" ]; then mv "$f.testbed-orig" "$f"; changed "restored $f"; exit 0; fi
done
unchanged "cmdline.txt was not changed"`,
  };
}

/**
 * Raspberry Pi, after piCgroupScript: the first step to connect after its reboot (its dial waits for the Pi, up to
 * REBOOT_DIAL_ERROR_LIMIT dials), and the check that the reboot gave k3s its memory cgroup.
 */
export function memoryCgroupScript(host: string): InlineStepScript {
  return {
    create: `
${MEMORY_CGROUP} || fail ${shq(`host ${host}: the kernel has no memory cgroup, though cmdline.txt asks for it (${PI_CGROUP_FLAGS.join(" ")}); did the reboot happen? Reboot the Pi and run again`)}
unchanged "memory cgroup enabled; up $(cut -d' ' -f1 /proc/uptime) s"`,
  };
}

/** Where k3s looks for nvidia-container-runtime, in its order (k3s-io/k3s pkg/agent/containerd/runtimes.go). */
export const NVIDIA_RUNTIME_DIRS = ["/usr/local/nvidia/toolkit", "/usr/bin"];

/**
 * Jetson: k3s registers the `nvidia` runtime only if nvidia-container-runtime is a file in one of
 * NVIDIA_RUNTIME_DIRS when it starts (findNvidiaContainerRuntimes(): those paths, not PATH; nvidia-ctk is not
 * the runtime). The agent's step then confirms containerd's config names it.
 */
export function jetsonRuntimeScript(host = "jetson"): InlineStepScript {
  return {
    create: `
runtime=""
for dir in ${NVIDIA_RUNTIME_DIRS.join(" ")}; do
  if [ -f "$dir/nvidia-container-runtime" ]; then runtime="$dir/nvidia-container-runtime"; break; fi
done
if [ -z "$runtime" ]; then
  elsewhere="$(command -v nvidia-container-runtime || true)"
  fail ${shq(`host ${host}: k3s registers the nvidia runtime only when nvidia-container-runtime is in ${NVIDIA_RUNTIME_DIRS.join(" or ")}, and it is in neither`)}"\${elsewhere:+ (there is one at $elsewhere, where k3s does not look)}; install nvidia-container-toolkit (JetPack ships it)"
fi
gpu="$(nvidia-smi -L 2>/dev/null | head -n1 || true)"
unchanged "NVIDIA container runtime at $runtime\${gpu:+; $gpu}"`,
  };
}
