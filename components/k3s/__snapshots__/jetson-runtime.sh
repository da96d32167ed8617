set -euo pipefail
# testbed step: nvidia-runtime
readonly host=jetson
readonly -a runtime_dirs=(/usr/local/nvidia/toolkit /usr/bin)
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
# shellcheck disable=SC2154 # the values (host, runtime_dirs) come from the program's header
# Jetson: k3s registers the `nvidia` runtime only if nvidia-container-runtime is a file in one of runtime_dirs
# when it starts (k3s-io/k3s pkg/agent/containerd/runtimes.go, findNvidiaContainerRuntimes(): those paths, not
# PATH; nvidia-ctk is not the runtime). The agent's step then confirms containerd's config names it.

step_create() {
  local runtime="" dir elsewhere gpu where
  for dir in "${runtime_dirs[@]}"; do
    if [ -f "$dir/nvidia-container-runtime" ]; then
      runtime="$dir/nvidia-container-runtime"
      break
    fi
  done
  if [ -z "$runtime" ]; then
    elsewhere="$(command -v nvidia-container-runtime || true)"
    printf -v where '%s or ' "${runtime_dirs[@]}"
    fail "host $host: k3s registers the nvidia runtime only when nvidia-container-runtime is in ${where% or }, and it is in neither${elsewhere:+ (there is one at $elsewhere, where k3s does not look)}; install nvidia-container-toolkit (JetPack ships it)"
  fi
  gpu="$(nvidia-smi -L 2>/dev/null | head -n1 || true)"
  unchanged "NVIDIA container runtime at $runtime${gpu:+; $gpu}"
}
case "${1:-create}" in
  create) step_create ;;
  delete) step_delete ;;
  *) echo "unknown action: $1 (expected create or delete)" >&2; exit 64 ;;
esac
