#!/usr/bin/env bash
# shellcheck shell=bash
# shellcheck disable=SC2154 # the values (gates, cluster, config, ...) come from the program's header; state from install.sh
# The k3s server: config, install, wait for the API and the join token (after install.sh in the program).

step_create() {
  if [ "${#gates[@]}" -gt 0 ]; then
    local joined
    printf -v joined '%s, ' "${gates[@]}"
    echo "disk gates on this host: ${joined%, }" >&2
  fi
  k3s_install k3s k3s-uninstall.sh "the k3s server of cluster $cluster" "$config_file" "$config"
  "$state" "k3s server $k3s_version (cluster $cluster)"
}

k3s_ready() {
  [ -s "$data_dir/server/node-token" ] && /usr/local/bin/k3s kubectl get --raw=/readyz >/dev/null 2>&1
}
k3s_stale() { return 1; }
k3s_refused() { return 1; }

step_delete() { k3s_uninstall "k3s server" k3s-uninstall.sh "$config_file"; }
