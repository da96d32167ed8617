set -euo pipefail
# testbed step: nuc/zfs-tuning
readonly zfs_host=nuc
readonly zfs_dataset=tank/incus
readonly zfs_record_dir=/var/lib/testbed/zfs
readonly zfs_record=/var/lib/testbed/zfs/tank%incus.tsv
readonly zfs_probe=tank/incus/testbed-probe
readonly -a zfs_props=(compression atime recordsize)
readonly -a zfs_pairs=(compression=lz4 atime=off recordsize=8k)
readonly zfs_wanted='compression=lz4 atime=off recordsize=8k'
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
case "${1:-create}" in
  create) step_create ;;
  delete) step_delete ;;
  *) echo "unknown action: $1 (expected create or delete)" >&2; exit 64 ;;
esac
