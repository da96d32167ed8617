#!/usr/bin/env bash
# shellcheck shell=bash
# The script `testbed doctor` runs on an etcd-bearing host (etcdProbeScript in doctor.ts). The values come from the
# program's header: url (etcd's metrics page), since (how far back to read logs), log_grep (the lines doctor reads,
# filtered here so a week of journal stays small on the wire) and karmada (true on Karmada's host cluster).
# Sections start with `TESTBED section <name>`; what is missing is said on a `TESTBED unavailable <name>: <why>`
# line, never by failing. The URL is not echoed back: a newline in it would forge a section line.

# shellcheck disable=SC2154 # url, since, log_grep and karmada come from the program's header
step_create() {
  local pods p
  echo "TESTBED section metrics"
  if command -v curl >/dev/null 2>&1; then
    curl -fsS --max-time 10 --url "$url" ||
      echo "TESTBED unavailable metrics: nothing answers at the metrics URL (k3s on its default sqlite store has no etcd; or etcd is down)"
  elif command -v wget >/dev/null 2>&1; then
    wget -qO- -T 10 -- "$url" || echo "TESTBED unavailable metrics: nothing answers at the metrics URL"
  else
    echo "TESTBED unavailable metrics: neither curl nor wget on this host"
  fi
  echo "TESTBED section journal"
  if command -v journalctl >/dev/null 2>&1 && systemctl cat k3s.service >/dev/null 2>&1; then
    journalctl -u k3s.service --since "-$since" -o short-iso --no-pager | grep -E -- "$log_grep" || true
  else
    echo "TESTBED unavailable journal: no k3s.service in this host's journal"
  fi
  [ "$karmada" = true ] || return 0
  echo "TESTBED section karmada-etcd"
  if command -v k3s >/dev/null 2>&1; then
    pods=$(k3s kubectl -n karmada-system get pods -o name 2>/dev/null | grep etcd || true)
    if [ -n "$pods" ]; then
      for p in $pods; do
        k3s kubectl -n karmada-system logs "$p" --since="$since" --timestamps 2>&1 | grep -E -- "$log_grep" || true
      done
    else
      echo "TESTBED unavailable karmada-etcd: no etcd pod in karmada-system"
    fi
  else
    echo "TESTBED unavailable karmada-etcd: no k3s on this host"
  fi
}
