#!/usr/bin/env bash
# shellcheck shell=bash
# shellcheck disable=SC2154 # the values (nodes, ready_attempts, ready_interval_s, cluster) come from the program's header
# On the server: waits, bounded, until every node of the cluster is Ready.

step_create() {
  local i node status missing=""
  for i in $(seq 1 "$ready_attempts"); do
    missing=""
    for node in "${nodes[@]}"; do
      status="$(/usr/local/bin/k3s kubectl get node "$node" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null || true)"
      [ "$status" = True ] || missing="$missing $node"
    done
    [ -z "$missing" ] && break
    echo "waiting for nodes to be Ready in cluster $cluster:$missing (attempt $i/$ready_attempts)" >&2
    sleep "$ready_interval_s"
  done
  [ -z "$missing" ] || fail "cluster $cluster: nodes not Ready after $((ready_attempts * ready_interval_s)) s:$missing"
  unchanged "cluster $cluster: ${#nodes[@]} node(s) Ready"
}
