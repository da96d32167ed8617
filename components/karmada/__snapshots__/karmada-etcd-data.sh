set -euo pipefail
# testbed step: karmada-host/karmada-etcd-data
readonly etcd_path=/var/lib/karmada-system/karmada-etcd
readonly namespace_dir=/var/lib/karmada-system
readonly release_gone_wait_s=60
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
# shellcheck disable=SC2154 # the values (etcd_path, namespace_dir, release_gone_wait_s) come from the program's header
# On the Karmada host, created before the chart's Release and so deleted after it: the chart's internal etcd keeps
# its data in a hostPath (chart 1.13.0 templates/etcd.yaml, lines 109-112, type DirectoryOrCreate), which `helm uninstall` does not remove
# (its post-delete hook, templates/post-delete-job.yaml lines 47-52, deletes only API objects: the certificate and
# kubeconfig Secrets, CRDs, static resources). Left there, the next install's etcd starts on the old data, and the
# new Karmada serves the old Clusters, policies and bindings (karmada-io/karmada #5582, #2735). Its delete removes it.

# Processes (pids) with a file or working directory under the etcd data path: an etcd pod still terminating. One
# find over /proc (its -lname reads each link's target; `*` there also matches `/`); processes that exit meanwhile
# are skipped. The path is the chart's fixed one (values.ts, etcdPathError), with no glob characters.
holders() {
  { find /proc/[0-9]*/fd /proc/[0-9]*/cwd -maxdepth 1 \( -lname "$etcd_path" -o -lname "$etcd_path/*" \) \
    -print 2>/dev/null || true; } | cut -d/ -f3 | sort -un | tr '\n' ' '
}

step_create() {
  if [ -d "$etcd_path/member" ]; then
    unchanged "Karmada's etcd data at $etcd_path is in use; removed on destroy"
  else
    unchanged "no Karmada etcd data at $etcd_path yet; removed on destroy"
  fi
}

step_delete() {
  local i held=""
  # helm uninstall returns once the API objects are deleted, before the etcd pod has stopped: wait (bounded) until
  # nothing has the data open, so a late write does not recreate what was removed.
  for ((i = 0; i < release_gone_wait_s; i++)); do
    held="$(holders)"
    [ -z "$held" ] && break
    sleep 1
  done
  [ -z "$held" ] || fail "Karmada's etcd data at $etcd_path is still in use (pids: ${held% }) after ${release_gone_wait_s} s: is the chart's etcd still running?"
  if [ -e "$etcd_path" ]; then
    rm -rf --one-file-system -- "$etcd_path"
    # The namespace's directory, which the hostPath's DirectoryOrCreate made, only if nothing else is in it.
    rmdir -- "$namespace_dir" 2>/dev/null || true
    changed "removed Karmada's etcd data at $etcd_path"
  else
    rmdir -- "$namespace_dir" 2>/dev/null || true
    unchanged "no Karmada etcd data at $etcd_path"
  fi
}
case "${1:-create}" in
  create) step_create ;;
  delete) step_delete ;;
  *) echo "unknown action: $1 (expected create or delete)" >&2; exit 64 ;;
esac
