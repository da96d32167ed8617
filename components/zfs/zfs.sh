#!/usr/bin/env bash
# shellcheck shell=bash
# The ZFS tuning step (zfsTuningScript in zfs.ts). The values come from the program's header: zfs_host,
# zfs_dataset, zfs_record (the file holding what was recorded before the first change) in zfs_record_dir,
# zfs_probe (a short-lived child dataset), zfs_props (the property names), zfs_pairs (prop=value, in the same order)
# and zfs_wanted (the pairs as one line, for the message).

# Checks the dataset exists and that this host's ZFS supports every property and value (on the short-lived child
# dataset, so nothing on the real one changes if one is refused), records each property's value and source once,
# then sets what differs. Prints {"dataset":..,"recorded":{prop:{"value":..,"source":..}},"changed":[prop, ...]}.
# shellcheck disable=SC2154 # zfs_* come from the program's header
step_create() {
  local prop pair out want have value source
  local -a changed_props=() recorded=()
  command -v zfs >/dev/null || fail "host $zfs_host: the zfs command is missing (install zfsutils-linux)"
  zfs list -H -o name "$zfs_dataset" >/dev/null 2>&1 ||
    fail "host $zfs_host: ZFS dataset $zfs_dataset does not exist (zfs list shows: $(zfs list -H -o name 2>&1 | tr '\n' ' '))"
  # 1. Every property and value must be supported before any is changed.
  for prop in "${zfs_props[@]}"; do
    if ! out="$(zfs get -H -o value "$prop" "$zfs_dataset" 2>&1)"; then
      fail "host $zfs_host: dataset $zfs_dataset: this ZFS does not support property $prop (zfs get said: $(echo "$out" | head -n1)); nothing was changed"
    fi
  done
  zfs destroy "$zfs_probe" >/dev/null 2>&1 || true
  for pair in "${zfs_pairs[@]}"; do
    if ! out="$(zfs create -o mountpoint=none -o "$pair" "$zfs_probe" 2>&1)"; then
      zfs destroy "$zfs_probe" >/dev/null 2>&1 || true
      fail "host $zfs_host: dataset $zfs_dataset: this ZFS refuses $pair (zfs said: $(echo "$out" | head -n1)); nothing was changed"
    fi
    zfs destroy "$zfs_probe"
  done
  # 2. Record the original values once; a re-run keeps the first record, so delete restores the real original.
  mkdir -p -- "$zfs_record_dir"
  if [ ! -s "$zfs_record" ]; then
    zfs get -H -p -o property,value,source "$(IFS=,; echo "${zfs_props[*]}")" "$zfs_dataset" >"$zfs_record.tmp"
    mv -- "$zfs_record.tmp" "$zfs_record"
  fi
  # 3. Set what differs.
  for pair in "${zfs_pairs[@]}"; do
    prop="${pair%%=*}"
    want="${pair#*=}"
    have="$(zfs get -H -o value "$prop" "$zfs_dataset")"
    if [ "${have,,}" != "${want,,}" ]; then
      zfs set "$pair" "$zfs_dataset"
      changed_props+=("$prop")
    fi
  done
  # A key ending in ":" takes its value as JSON (json_object); the prop's own name is the key.
  while IFS=$'\t' read -r prop value source; do
    recorded+=("$prop:" "$(json_object value "$value" source "$source")")
  done <"$zfs_record"
  output "$(json_object dataset "$zfs_dataset" recorded: "$(json_object "${recorded[@]}")" \
    changed: "$(json_array "${changed_props[@]}")")"
  if [ "${#changed_props[@]}" -gt 0 ]; then
    changed "zfs set on $zfs_dataset: ${changed_props[*]}"
  else
    unchanged "$zfs_dataset already has $zfs_wanted"
  fi
}

# Restores each recorded property exactly: a local value is set back, an inherited or default one is re-inherited.
# shellcheck disable=SC2154 # zfs_* come from the program's header
step_delete() {
  local prop value source restored=""
  if [ ! -s "$zfs_record" ]; then
    unchanged "no record for $zfs_dataset; nothing to restore"
    return
  fi
  if ! zfs list -H -o name "$zfs_dataset" >/dev/null 2>&1; then
    rm -f -- "$zfs_record"
    unchanged "dataset $zfs_dataset is gone"
    return
  fi
  while IFS=$'\t' read -r prop value source; do
    case "$source" in
      local) zfs set "$prop=$value" "$zfs_dataset" ;;
      *) zfs inherit "$prop" "$zfs_dataset" ;;
    esac
    restored="$restored $prop($source)"
  done <"$zfs_record"
  rm -f -- "$zfs_record"
  changed "restored on $zfs_dataset:$restored"
}
