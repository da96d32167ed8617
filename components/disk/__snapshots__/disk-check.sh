set -euo pipefail
# testbed step: disk-check
readonly fio_size_mib=22
readonly fio_size_kib=22528
readonly fio_planned=10029
readonly fio_warn_ns=10000000
readonly fio_fail_ns=100000000
readonly fio_budget_s=60
readonly fio_early=1
readonly fio_block_size=2300
readonly fio_status_interval=250ms
readonly fio_exit_no_fio=3
readonly fio_exit_no_path=4
readonly fio_exit_no_space=5
readonly fio_exit_failed=6
readonly check_path=/var/lib/rancher/k3s/server/db
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
# The etcd fio job (components/disk/fio.ts): the functions a step program holds, for the gate's measurement steps
# and for `testbed disk-check`. Its values come from the program's header (fioValues in fio.ts).

# The status reader: reads fio's cumulative status documents (--output-format=json+ --status-interval) as they
# arrive. Per document: the syncs done (jobs[0].sync.lat_ns.N), the slowest (max) and the latency histogram (bins:
# value in ns -> count, ascending). Once the verdict is certain it interrupts fio (SIGINT: fio stops its jobs, exits
# 128 and still prints its final results; sig_int and the __show_run_stats call, fio backend.c lines 78-91 and
# 2621-2623 at fio-3.33); at most once a second (fio's "elapsed" changes) it prints a progress line on stderr. At the
# end it prints the stop reason and the last complete document. The rule is the one verdictBounds() (fio.ts) states,
# in integers.
fio_status_program() {
  cat <<'AWK'
function judge(  rem, lo, hi, p) {
  # A status snapshot can count a sync in N before its bin (fio updates them apart): the fewer is what is done.
  rem = planned - (cum < n ? cum : n); if (rem < 0) rem = 0
  lo = (af * 100 > planned && max > fail) ? 2 : ((aw * 100 > planned && max > warn) ? 1 : 0)
  hi = ((af + rem) * 100 >= planned) ? 2 : (((aw + rem) * 100 >= planned) ? 1 : 0)
  if (elapsed != shown && n > 0) {
    p = (p99 < 0 || p99 > max) ? max : p99
    printf "fdatasync latency: %d of %d syncs, %d s, p99 so far %.2f ms\n", n, planned, elapsed, p / 1e6 > "/dev/stderr"
    fflush("/dev/stderr")
    shown = elapsed
  }
  if (early && lo == hi && n < planned && !stopped) { stopped = 1; system("kill -INT " pid " 2>/dev/null") }
}
/^\{/ { buf = ""; depth = 0; insync = 0; inbins = 0; n = 0; max = 0; aw = 0; af = 0; cum = 0; p99 = -1 }
{ buf = buf $0 "\n" }
/^ *"elapsed" : / { elapsed = $3 + 0 }
insync == 0 && /^ *"sync" : \{/ { insync = 1; depth = 0 }
insync {
  line = $0; opens = gsub(/\{/, "", line); closes = gsub(/\}/, "", line); depth += opens - closes
  if (inbins && $0 ~ /\}/) inbins = 0
  else if (inbins) {
    v = $1; gsub(/"/, "", v); v += 0; c = $3 + 0; cum += c
    if (p99 < 0 && cum * 100 >= 99 * n) p99 = v
    if (v > warn) aw += c
    if (v > fail) af += c
  }
  else if ($0 ~ /^ *"max" : /) max = $3 + 0
  else if ($0 ~ /^ *"N" : /) n = $3 + 0
  else if ($0 ~ /^ *"bins" : \{/) inbins = 1
  if (depth <= 0) insync = -1
}
/^\}/ { last = buf; lastn = n; judge() }
END {
  printf "testbed-fio stop=%s planned=%d budget=%s\n", (lastn >= planned ? "complete" : (stopped ? "certain" : "budget")), planned, budget
  printf "%s", last
}
AWK
}

# fio_job DIR: the job at DIR. Checks fio, the directory and the free space, writes in a fresh directory under DIR
# that is removed afterwards, and prints a line saying why the run stopped, then fio's JSON, on stdout. The run ends
# at the planned size, at the time budget, or as soon as the verdict against the thresholds is certain whatever the
# remaining syncs do (verdictBounds); progress goes to stderr. It runs in a subshell (the parentheses), so its traps
# and exits are its own; each command checks its own failure: inside a caller's `if`, bash ignores set -e.
# shellcheck disable=SC2154 # fio_* values come from the program's header (fioValues in fio.ts)
fio_job() (
  at=$1
  command -v fio >/dev/null || {
    echo "fio is not installed (Debian/Ubuntu: apt-get install fio; package fio)" >&2
    exit "$fio_exit_no_fio"
  }
  [ -d "$at" ] || {
    echo "path $at does not exist or is not a directory" >&2
    exit "$fio_exit_no_path"
  }
  free_kib="$(df -Pk -- "$at" | awk 'NR==2 {print $4}')"
  need_kib=$((fio_size_kib + 1024))
  [ "${free_kib:-0}" -ge "$need_kib" ] || {
    echo "no space for the $fio_size_mib MiB test file at $at: ${free_kib:-0} KiB free, $need_kib KiB needed" >&2
    exit "$fio_exit_no_space"
  }
  # A run cut short (a dropped connection) can leave its directory behind: those are ours, remove them first.
  rm -rf -- "$at"/.testbed-fio.*
  fio_dir="$(mktemp -d "$at/.testbed-fio.XXXXXX")" || {
    echo "cannot create a directory at $at" >&2
    exit "$fio_exit_failed"
  }
  fio_pid=""
  trap '[ -z "$fio_pid" ] || kill "$fio_pid" 2>/dev/null || true; rm -rf -- "$fio_dir"' EXIT
  trap 'exit 129' HUP
  trap 'exit 130' INT
  trap 'exit 143' TERM
  mkfifo "$fio_dir/status" || {
    echo "cannot create a pipe in $fio_dir" >&2
    exit "$fio_exit_failed"
  }
  # fio's stderr is kept for a failure: its status dumps of the first syncs complain about percentiles of a handful.
  # fio runs in the fresh directory under relative names: a path with ':' (fio's list separator) stays one directory.
  # --runtime is the time budget; the status every fio_status_interval lets the reader stop it once the verdict is
  # certain.
  (cd "$fio_dir" && exec fio --name=etcd-fdatasync --filename=etcd-fdatasync.0 --rw=write --ioengine=sync \
    --fdatasync=1 --bs="$fio_block_size" --size="${fio_size_kib}k" --runtime="$fio_budget_s" \
    --output-format=json+ --status-interval="$fio_status_interval") >"$fio_dir/status" 2>"$fio_dir/stderr" &
  fio_pid=$!
  fio_out="$(LC_ALL=C awk -v planned="$fio_planned" -v warn="$fio_warn_ns" -v fail="$fio_fail_ns" \
    -v budget="$fio_budget_s" -v early="$fio_early" -v pid="$fio_pid" "$(fio_status_program)" <"$fio_dir/status")"
  fio_rc=0
  wait "$fio_pid" || fio_rc=$?
  fio_pid=""
  # After the reader's SIGINT fio exits non-zero, with its final results printed all the same.
  case "$fio_out" in
    "testbed-fio stop=certain "*) ;;
    *) [ "$fio_rc" -eq 0 ] || {
      cat "$fio_dir/stderr" >&2
      echo "fio failed at $at (exit $fio_rc)" >&2
      exit "$fio_exit_failed"
    } ;;
  esac
  case "$fio_out" in
    *'"jobs"'*) printf '%s\n' "$fio_out" ;;
    *)
      cat "$fio_dir/stderr" >&2
      echo "fio failed at $at: it printed no results" >&2
      exit "$fio_exit_failed"
      ;;
  esac
)

# shellcheck shell=bash
# `testbed disk-check` (scripts/commands/diskCheck.ts): the fio job (fio.sh, which precedes this file in the
# program) at one directory, on its own. stdout is fio's: the stop line, then its JSON.

# shellcheck disable=SC2154 # check_path comes from the program's header (fioScript in fio.ts)
step_create() { fio_job "$check_path"; }
case "${1:-create}" in
  create) step_create ;;
  delete) step_delete ;;
  *) echo "unknown action: $1 (expected create or delete)" >&2; exit 64 ;;
esac
