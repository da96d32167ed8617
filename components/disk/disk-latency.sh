#!/usr/bin/env bash
# shellcheck shell=bash
# The gate's measurement at directories (diskLatencyScript in measurement.ts): fdatasync latency at each directory
# etcd will write to, once per filesystem. fio.sh precedes this file in the program; the values come from its
# header: gate_host, gate_paths, created_dirs (the list of directories the measurement made) and created_dirs_lock
# (the list's directory, locked while the list is rewritten).

# Each directory is created if missing (etcd would create it anyway) and remembered, so delete removes it only if
# the measurement made it and nothing is in it. A directory on the same filesystem (st_dev) as one already measured
# is gated on that measurement. Prints {"fio":[<base64 of fio's output>, ...]}, one per directory: fio's output is a
# document of its own (a stop line, then multi-line JSON), carried whole as a string.
# shellcheck disable=SC2154 # gate_* and created_dirs* come from the program's header
step_create() {
  local gate_path gate_dev gate_note="" i j fio_json
  local -a gate_devs=() gate_fio=()
  for gate_path in "${gate_paths[@]}"; do
    if [ ! -d "$gate_path" ]; then
      mkdir -p -- "$gate_path" "$created_dirs_lock"
      (
        flock 9
        printf '%s\n' "$gate_path" >>"$created_dirs"
      ) 9<"$created_dirs_lock"
    fi
  done
  for i in "${!gate_paths[@]}"; do
    gate_path="${gate_paths[$i]}"
    gate_dev="$(stat -c %d -- "$gate_path")"
    for j in "${!gate_devs[@]}"; do
      if [ "${gate_devs[$j]}" = "$gate_dev" ]; then
        gate_fio[i]="${gate_fio[$j]}"
        gate_devs[i]="$gate_dev"
        gate_note="$gate_note; $gate_path is on the same filesystem, gated on that measurement"
        continue 2
      fi
    done
    if ! fio_json="$(fio_job "$gate_path")"; then
      fail "host $gate_host: could not measure fdatasync latency at $gate_path (see above)"
    fi
    gate_fio[i]="$(printf '%s' "$fio_json" | base64 -w0)"
    gate_devs[i]="$gate_dev"
    gate_note="$gate_note; measured fdatasync latency at $gate_path"
  done
  output "$(json_object fio: "$(json_array "${gate_fio[@]}")")"
  unchanged "${gate_note#; }"
}

# The list is shared by every gate on the host, and Pulumi runs independent deletes together: it is rewritten under a
# lock on its directory, through a temporary file of this process's own.
# shellcheck disable=SC2154 # gate_paths and created_dirs* come from the program's header
step_delete() {
  local gate_path gate_note="" gate_removed=""
  for gate_path in "${gate_paths[@]}"; do
    if [ -f "$created_dirs" ] && grep -qxF -- "$gate_path" "$created_dirs"; then
      if [ ! -d "$gate_path" ]; then
        gate_note="$gate_note; $gate_path is already gone"
      elif rmdir -- "$gate_path" 2>/dev/null; then
        gate_note="$gate_note; removed $gate_path"
        gate_removed=yes
      else
        gate_note="$gate_note; $gate_path is not empty; left in place"
      fi
      (
        flock 9
        { grep -vxF -- "$gate_path" "$created_dirs" || true; } >"$created_dirs.$$" && mv "$created_dirs.$$" "$created_dirs"
      ) 9<"$created_dirs_lock"
    else
      gate_note="$gate_note; $gate_path was not created by the measurement"
    fi
  done
  if [ -n "$gate_removed" ]; then changed "${gate_note#; }"; else unchanged "${gate_note#; }"; fi
}
