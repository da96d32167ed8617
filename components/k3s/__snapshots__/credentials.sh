set -euo pipefail
# testbed step: k3s-credentials
readonly cluster=edge
readonly data_dir='/srv/k3s data'
readonly kubeconfig_file=/etc/rancher/k3s/k3s.yaml
readonly api_port=6443
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
# shellcheck disable=SC2154 # the values (data_dir, kubeconfig_file, api_port, cluster) come from the program's header
# Reads the join token and the admin kubeconfig. Its stdout is secret: the step runs with logging off and its
# outputs are wrapped in pulumi.secret. pulumi-command puts the whole output of a failed command into its error
# even then (provider/pkg/provider/remote/commandOutputs.go, v1.2.1, lines 77-101), so every check that can fail
# comes before the one line that prints the secrets.

step_create() {
  local token_path="$data_dir/server/node-token" token kubeconfig
  [ -s "$token_path" ] || fail "no join token at $token_path: is the k3s server running?"
  [ -s "$kubeconfig_file" ] || fail "no kubeconfig at $kubeconfig_file: is the k3s server running?"
  grep -q '^ *server: https://127\.0\.0\.1:'"$api_port"'$' "$kubeconfig_file" \
    || fail "the kubeconfig at $kubeconfig_file does not point at https://127.0.0.1:$api_port, the address this step replaces with the server's; check clusters.$cluster.extraArgs"
  token="$(cat "$token_path")"
  case "$token" in
    K10*::*) ;;
    *) fail "the join token at $token_path is not in k3s' K10<CA hash>::<credentials> form (its value is not shown)" ;;
  esac
  kubeconfig="$(base64 -w0 <"$kubeconfig_file")"
  # Last, and nothing after it can fail.
  output "$(json_object token "$token" kubeconfig "$kubeconfig")"
  unchanged "read the join token and kubeconfig of cluster $cluster"
}
case "${1:-create}" in
  create) step_create ;;
  delete) step_delete ;;
  *) echo "unknown action: $1 (expected create or delete)" >&2; exit 64 ;;
esac
