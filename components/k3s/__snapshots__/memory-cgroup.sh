set -euo pipefail
# testbed step: memory-cgroup
readonly host=pi
readonly -a cgroup_flags=(cgroup_memory=1 cgroup_enable=memory)
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
# Shared by the Raspberry Pi's steps (pi-cgroups.sh, memory-cgroup.sh follow this file in their programs).

# Whether the running kernel has the memory cgroup k3s needs (cgroup v2, then v1).
memory_cgroup_enabled() {
  grep -qw memory /sys/fs/cgroup/cgroup.controllers 2>/dev/null || grep -q '^memory.*1$' /proc/cgroups 2>/dev/null
}

# shellcheck shell=bash
# shellcheck disable=SC2154 # the values (host, cgroup_flags) come from the program's header
# Raspberry Pi, after the pi-cgroups step: the first step to connect after its reboot (its dial waits for the Pi),
# and the check that the reboot gave k3s its memory cgroup (memory_cgroup_enabled, cgroup.sh).

step_create() {
  memory_cgroup_enabled || fail "host $host: the kernel has no memory cgroup, though cmdline.txt asks for it (${cgroup_flags[*]}); did the reboot happen? Reboot the Pi and run again"
  unchanged "memory cgroup enabled; up $(cut -d' ' -f1 /proc/uptime) s"
}
case "${1:-create}" in
  create) step_create ;;
  delete) step_delete ;;
  *) echo "unknown action: $1 (expected create or delete)" >&2; exit 64 ;;
esac
