set -euo pipefail
# testbed step: k3s-node-Pi-4
readonly cluster=edge
readonly node_name=Pi-4
readonly node_password_secret=pi-4.node-password.k3s
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
case "${1:-create}" in
  create) step_create ;;
  delete) step_delete ;;
  *) echo "unknown action: $1 (expected create or delete)" >&2; exit 64 ;;
esac
