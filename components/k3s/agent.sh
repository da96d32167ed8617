#!/usr/bin/env bash
# shellcheck shell=bash
# shellcheck disable=SC2154 # the values (node_name, token, nvidia, ...) come from the program's header; state, service and since from install.sh
# The k3s agent (after install.sh in the program): token file (0600), config, install, start; then it waits,
# bounded, until the server reports this node Ready, asked with the agent's own kubelet credentials (which may read
# their own Node). On a Jetson (nvidia=true), containerd's config must then name the nvidia runtime, and a k3s
# started before the runtime existed is restarted (k3s looks for it at start only).

step_create() {
  local note=""
  k3s_install k3s-agent k3s-agent-uninstall.sh "the k3s agent $node_name of cluster $cluster" \
    "$token_file" "$token" "$config_file" "$config"
  if [ "$nvidia" = true ]; then
    nvidia_registered || fail "host $host: k3s started without the nvidia runtime: $containerd_config does not name it, so every pod (default-runtime nvidia) would fail; see 'journalctl -u k3s-agent' for where k3s looked"
    note="; nvidia runtime registered"
  fi
  "$state" "k3s agent $k3s_version (cluster $cluster)$note"
}

# The runtime's own table, not any "nvidia": with default-runtime nvidia, k3s writes default_runtime_name = "nvidia"
# whether or not it found the runtime. Config version 2 quotes the name with ", version 3 (containerd 2) with '.
nvidia_registered() { grep -Eq "containerd\.runtimes\.[\"']nvidia[\"']\]" "$containerd_config" 2>/dev/null; }

k3s_ready() {
  [ "$(/usr/local/bin/k3s kubectl --kubeconfig "$data_dir/agent/kubelet.kubeconfig" get node "$node_name" \
    -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]
}

# A Jetson's k3s that started before the runtime existed lacks it until restarted.
k3s_stale() { [ "$nvidia" = true ] && ! nvidia_registered; }

# Journal lines no wait will cure (the server refused the token, or holds another password for this node name).
# The journal is read whole before grep: with pipefail, `journalctl | grep -q` fails when grep stops at the first
# match and journalctl dies of SIGPIPE, so the refusal it found would be missed until the wait ran out.
k3s_refused() {
  local patterns=() r journal
  for r in "${refused_when[@]}"; do patterns+=(-e "$r"); done
  journal="$(journalctl -u "$service" --no-pager --since "$since" 2>/dev/null || true)"
  grep -qF "${patterns[@]}" <<<"$journal"
}

# The node password goes too: the server forgot it with the Node (the node step's delete runs first), and a
# reinstall then joins under a new one. k3s' uninstall script keeps /etc/rancher/node.
step_delete() { k3s_uninstall "k3s agent" k3s-agent-uninstall.sh "$config_file" "$token_file" "$node_password_file"; }
