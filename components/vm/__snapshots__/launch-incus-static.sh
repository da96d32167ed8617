set -euo pipefail
# testbed step: nuc/vm-k3s-cp
readonly cli=incus
readonly name=k3s-cp
readonly image=images:ubuntu/24.04/cloud
readonly cpus=2
readonly memory=2GiB
readonly disk=10GiB
readonly storage_pool=default
readonly user_data='#cloud-config
users:
  - name: testbed
    shell: /bin/bash
    sudo: ALL=(ALL) NOPASSWD:ALL
    ssh_authorized_keys:
      - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOqlqm4Je6lr3zF0YNA4KdlFhrcK/y7VBF873abPbSQs
ssh_pwauth: false
'
readonly network_config='version: 2
ethernets:
  primary:
    match:
      name: "en*"
    addresses: [198.19.0.21/16]
    routes:
      - to: default
        via: 198.19.0.1
'
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
# shellcheck disable=SC2154 # the values (cli, name, image, user_data, ...) come from the program's header
# Launches the VM if it does not exist, waits until its agent answers and cloud-init is done, then prints
# `<cli> list <vm> --format json` and the VM's SSH host key, read over the hypervisor's pinned connection, so the
# VM's key is pinned without trusting the network. An empty network_config lets the hypervisor's DHCP assign the
# address. Delete removes the VM (and its disk) if it exists.

step_create() {
  command -v "$cli" >/dev/null || fail "$cli is not installed on this host (install Incus, or set hypervisor.kind)"
  local state ready=no i host_key instances
  local launch=("$cli" launch "$image" "$name" --vm -c "limits.cpu=$cpus" -c "limits.memory=$memory"
    -d "root,size=$disk" -s "$storage_pool" "--config=cloud-init.user-data=$user_data")
  if [ -n "$network_config" ]; then launch+=("--config=cloud-init.network-config=$network_config"); fi
  if "$cli" info "$name" >/dev/null 2>&1; then
    state=unchanged
  else
    "${launch[@]}" >&2
    state=changed
  fi
  for i in $(seq 1 "$ready_attempts"); do
    if "$cli" exec "$name" -- cloud-init status --wait >/dev/null 2>&1 \
      && "$cli" exec "$name" -- test -s /etc/ssh/ssh_host_ed25519_key.pub; then
      ready=yes
      break
    fi
    echo "waiting for VM $name to finish booting (cloud-init), attempt $i/$ready_attempts" >&2
    sleep "$ready_interval_s"
  done
  [ "$ready" = yes ] || fail "VM $name did not finish cloud-init within $((ready_attempts * ready_interval_s)) s; see '$cli console $name --show-log'"
  host_key="$("$cli" exec "$name" -- cat /etc/ssh/ssh_host_ed25519_key.pub | cut -d' ' -f1-2)"
  instances="$("$cli" list "$name" --format json | tr -d '\n')"
  output "$(json_object hostKey "$host_key" instances: "$instances")"
  "$state" "VM $name ($cpus CPU, $memory, $disk on pool $storage_pool)"
}

step_delete() {
  if "$cli" info "$name" >/dev/null 2>&1; then
    "$cli" delete "$name" --force >&2
    changed "deleted VM $name"
  else
    unchanged "VM $name already absent"
  fi
}
case "${1:-create}" in
  create) step_create ;;
  delete) step_delete ;;
  *) echo "unknown action: $1 (expected create or delete)" >&2; exit 64 ;;
esac
