#!/usr/bin/env bash
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
