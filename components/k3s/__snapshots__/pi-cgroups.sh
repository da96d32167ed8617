set -euo pipefail
# testbed step: cgroups
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
# shellcheck disable=SC2154 # the values (cgroup_flags) come from the program's header
# Raspberry Pi: k3s needs the memory cgroup. The flags go into cmdline.txt (backed up once, restored on delete);
# the Pi is rebooted only when the running kernel lacks the memory controller (memory_cgroup_enabled, cgroup.sh).
# The reboot fires 2 s after the step returns (so that its result gets out): a step that connected in between
# would be killed by it. So before returning, the step stops sshd's listener (sessions, this one included, stay:
# Debian's ssh.service has KillMode=process): the next step's dial is refused until the Pi is back, and the
# memory-cgroup step, dialling with a longer budget, is that next step.

step_create() {
  local cmdline="" f flag missing="" what
  for f in /boot/firmware/cmdline.txt /boot/cmdline.txt; do
    if [ -f "$f" ]; then
      cmdline="$f"
      break
    fi
  done
  [ -n "$cmdline" ] || fail "no cmdline.txt in /boot/firmware or /boot: is this a Raspberry Pi? (hosts.*.board)"
  for flag in "${cgroup_flags[@]}"; do grep -qw -- "$flag" "$cmdline" || missing="$missing $flag"; done
  if [ -n "$missing" ]; then
    [ -f "$cmdline.testbed-orig" ] || cp -p "$cmdline" "$cmdline.testbed-orig"
    sed -i "1 s/\$/$missing/" "$cmdline"
    what="added$missing to $cmdline"
  else
    what="$cmdline has ${cgroup_flags[*]}"
  fi
  if memory_cgroup_enabled; then
    if [ -n "$missing" ]; then changed "$what"; else unchanged "$what; memory cgroup enabled"; fi
  else
    nohup sh -c 'sleep 2; reboot' >/dev/null 2>&1 &
    systemctl stop ssh.socket >/dev/null 2>&1 || true
    systemctl stop ssh.service >&2 || fail "could not stop sshd before the reboot (a step connecting now would be killed by it)"
    changed "$what; rebooting to enable the memory cgroup"
  fi
}

step_delete() {
  local f
  for f in /boot/firmware/cmdline.txt /boot/cmdline.txt; do
    if [ -f "$f.testbed-orig" ]; then
      mv "$f.testbed-orig" "$f"
      changed "restored $f"
      return 0
    fi
  done
  unchanged "cmdline.txt was not changed"
}
case "${1:-create}" in
  create) step_create ;;
  delete) step_delete ;;
  *) echo "unknown action: $1 (expected create or delete)" >&2; exit 64 ;;
esac
