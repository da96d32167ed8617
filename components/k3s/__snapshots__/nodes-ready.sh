set -euo pipefail
# testbed step: k3s-nodes-ready
readonly cluster=edge
readonly -a nodes=(k3s-cp pi jetson)
readonly ready_attempts=60
readonly ready_interval_s=5
# shellcheck shell=bash
# The prelude of every step program (components/remote/script.ts, stepProgram): result lines, failure, JSON.

changed() { echo "TESTBED changed $*"; }
unchanged() { echo "TESTBED unchanged $*"; }
# output JSON: the step's values for later steps, one JSON document built with the json_* helpers below.
output() { echo "TESTBED output $1"; }
fail() {
  echo "$*" >&2
  exit 1
}
# A step with nothing to undo keeps this delete; a body that has one defines its own step_delete after it, which
# makes this one unreachable in that program (SC2317, by design).
# shellcheck disable=SC2317
step_delete() { unchanged "nothing to undo"; }

# json_string VALUE: VALUE as a JSON string. Quotes, backslashes, tabs, newlines and carriage returns are escaped;
# other control characters are dropped (JSON forbids them raw).
json_string() {
  local s=$1
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  s=${s//$'\t'/\\t}
  s=${s//$'\n'/\\n}
  s=${s//$'\r'/\\r}
  s=$(printf '%s' "$s" | tr -d '\000-\010\013\014\016-\037')
  printf '"%s"' "$s"
}

# json_object KEY VALUE ...: a JSON object of string members; a KEY ending in ":" takes its VALUE as JSON already
# (a number, a boolean, an object or array built by these helpers).
json_object() {
  local out="" sep="" k v
  while [ "$#" -ge 2 ]; do
    k=$1
    v=$2
    shift 2
    if [[ $k == *: ]]; then
      out+="$sep$(json_string "${k%:}"):$v"
    else
      out+="$sep$(json_string "$k"):$(json_string "$v")"
    fi
    sep=","
  done
  printf '{%s}' "$out"
}

# json_array VALUE ...: a JSON array of strings.
json_array() {
  local out="" sep="" v
  for v in "$@"; do
    out+="$sep$(json_string "$v")"
    sep=","
  done
  printf '[%s]' "$out"
}
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
case "${1:-create}" in
  create) step_create ;;
  delete) step_delete ;;
  *) echo "unknown action: $1 (expected create or delete)" >&2; exit 64 ;;
esac
