#!/usr/bin/env bash
# shellcheck shell=bash
# shellcheck disable=SC2154 # the values (node_name, node_password_secret, cluster) come from the program's header
# On the server, one per agent: nothing to create (the agent's step waited for its node); its delete, which Pulumi
# runs before the agent's uninstall, removes the Node and its node-password secret. k3s has no "agent leave":
# without this, a re-imaged board (a new /etc/rancher/node/password) is refused when it rejoins under the same
# name (k3s-io/k3s pkg/nodepassword/nodepassword.go, Ensure()).

step_create() {
  /usr/local/bin/k3s kubectl get node "$node_name" >/dev/null || fail "cluster $cluster has no node $node_name"
  unchanged "node $node_name is in cluster $cluster"
}

step_delete() {
  if [ -x /usr/local/bin/k3s ] && /usr/local/bin/k3s kubectl get --raw=/readyz >/dev/null 2>&1; then
    /usr/local/bin/k3s kubectl delete node "$node_name" --ignore-not-found >&2
    /usr/local/bin/k3s kubectl -n kube-system delete secret "$node_password_secret" --ignore-not-found >&2
    changed "removed node $node_name and its node-password secret from cluster $cluster"
  else
    unchanged "the k3s server of cluster $cluster is not running: no node to remove"
  fi
}
