#!/usr/bin/env bash
# shellcheck shell=bash
# The measurement of a ZFS dataset (zfsLatencyScript in measurement.ts) as its children (the VMs' volumes) see it: a
# short-lived child dataset inherits the dataset's properties, is mounted, measured and destroyed. Works whatever the
# dataset's own mountpoint is (Incus pools are often mountpoint=none). fio.sh precedes this file in the program; the
# values come from its header: gate_host, gate_dataset, gate_label, gate_child (the child dataset), gate_path (its
# mount point), gate_record (the tuning step's record) and gate_as_recorded (true: measure with the recorded values).

# A just-unmounted dataset can be "busy" for a moment (zfs-fuse, and OpenZFS with a lingering reader), and a run cut
# short by a dropped connection can still be writing there while the next run starts: retry for up to 15 s.
# shellcheck disable=SC2154 # gate_child and gate_path come from the program's header
gate_cleanup() {
  for _ in $(seq 30); do
    zfs list -H "$gate_child" >/dev/null 2>&1 || break
    zfs destroy "$gate_child" >/dev/null 2>&1 && break
    sleep 0.5
  done
  rmdir -- "$gate_path" 2>/dev/null || true
}

# Prints {"fio":[<base64 of fio's output>]}: fio's output is a document of its own (a stop line, then multi-line
# JSON), carried whole as a string.
# shellcheck disable=SC2154 # gate_* come from the program's header
step_create() {
  local prop value as="" fio_json props_csv
  local -a create_opts=() recorded_props=()
  gate_cleanup
  if zfs list -H "$gate_child" >/dev/null 2>&1; then
    fail "host $gate_host: $gate_child, left by an earlier measurement, is still busy (a run cut short may still be writing there); run again in a minute"
  fi
  mkdir -p -- "$gate_path"
  # "before", once the dataset has been tuned (a re-run after an upgrade or a new size): the child dataset gets the
  # values the tuning step recorded before its first change, so "before" keeps measuring the original settings.
  if [ "$gate_as_recorded" = true ] && [ -s "$gate_record" ]; then
    while IFS=$'\t' read -r prop value _; do
      create_opts+=(-o "$prop=$value")
      recorded_props+=("$prop")
    done <"$gate_record"
  fi
  zfs create -o mountpoint="$gate_path" "${create_opts[@]}" "$gate_child" ||
    fail "host $gate_host: cannot create the measurement dataset $gate_child"
  trap gate_cleanup EXIT
  [ "$(zfs get -H -o value mounted "$gate_child")" = yes ] ||
    fail "host $gate_host: the measurement dataset $gate_child did not mount at $gate_path"
  if [ ${#recorded_props[@]} -gt 0 ]; then
    props_csv="$(IFS=,; echo "${recorded_props[*]}")"
    as="; with the settings recorded before tuning: $(zfs get -H -p -o property,value "$props_csv" "$gate_child" |
      tr '\t\n' '= ' | sed 's/ $//')"
  fi
  if ! fio_json="$(fio_job "$gate_path")"; then
    fail "host $gate_host: could not measure fdatasync latency at $gate_path (see above)"
  fi
  output "$(json_object fio: "$(json_array "$(printf '%s' "$fio_json" | base64 -w0)")")"
  unchanged "measured fdatasync latency on $gate_dataset ($gate_label$as)"
}

# shellcheck disable=SC2154 # gate_child comes from the program's header
step_delete() {
  if zfs list -H "$gate_child" >/dev/null 2>&1; then
    gate_cleanup
    changed "removed $gate_child"
  else
    unchanged "nothing to remove"
  fi
}
