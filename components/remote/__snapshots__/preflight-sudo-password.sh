set -euo pipefail
# testbed step: jetson/reachable
readonly host_name=jetson
readonly login_user=testbed
readonly spec_arch=arm64
readonly -a uname_machines=(aarch64 arm64)
readonly check_sudo_password=true
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
# Every host's first step, "reachable" (preflightScript in host.ts): facts about the host, and a clear failure when
# it is not what the spec says. The values come from the program's header: host_name, login_user, spec_arch,
# uname_machines (what `uname -m` prints for spec_arch) and check_sudo_password (true when the spec gives the host
# a sudo password).

# With a sudo password, sudo itself is asked whether it would ask the login user for one (`sudo -k -n true` run as
# that user succeeds only when it would not), rather than reading sudoers rules: `!authenticate`, a group rule or an
# LDAP policy all skip the password without a `NOPASSWD: ALL` line. The password could not leak then (see
# runCommand in script.ts), but a password the host never asks for is a stale secret in the stack.
# shellcheck disable=SC2154 # host_name, login_user, spec_arch, uname_machines, check_sudo_password: the header's
as_login_user() {
  if command -v runuser >/dev/null 2>&1; then
    runuser -u "${SUDO_USER:-$login_user}" -- "$@"
  else
    # shellcheck disable=SC2016 # "$@" is expanded by the inner sh, which gets the arguments after its name
    su -s /bin/sh "${SUDO_USER:-$login_user}" -c '"$@"' sh "$@"
  fi
}

step_create() {
  local machine os="unknown" m expected="" known=false
  [ "$(id -u)" -eq 0 ] || fail "host $host_name: the step did not get root (sudo failed)"
  if [ "$check_sudo_password" = true ] && as_login_user sudo -k -n true </dev/null >/dev/null 2>&1; then
    fail "host $host_name: sudo does not ask $login_user for a password, but hosts.$host_name.sudoPassword is set; remove it from the stack"
  fi
  machine="$(uname -m)"
  for m in "${uname_machines[@]}"; do
    [ "$machine" != "$m" ] || known=true
    expected="${expected:+$expected or }$m"
  done
  [ "$known" = true ] ||
    fail "host $host_name: uname -m says $machine, but hosts.$host_name.arch is $spec_arch (expected $expected)"
  if [ -r /etc/os-release ]; then
    # shellcheck source=/dev/null # the host's own file
    os="$(. /etc/os-release && echo "${ID:-unknown}-${VERSION_ID:-}")"
  fi
  output "$(json_object arch "$machine" os "$os" kernel "$(uname -r)")"
  unchanged "reachable as $(id -un), $machine, $os"
}
case "${1:-create}" in
  create) step_create ;;
  delete) step_delete ;;
  *) echo "unknown action: $1 (expected create or delete)" >&2; exit 64 ;;
esac
