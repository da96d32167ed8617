#!/usr/bin/env bash
# shellcheck shell=bash
# shellcheck disable=SC2154 # the values (k3s_version, data_dir, host, ...) come from the program's header (stepProgram)
# Shared by the k3s server's and agent's steps (server.sh, agent.sh follow this file in their programs).
#
# The installer is told not to start k3s (INSTALL_K3S_SKIP_START), for two reasons (k3s-io/k3s install.sh,
# service_enable_and_start()): it restarts k3s only when the binary, the unit or its env file changed, never for
# config.yaml alone, so a changed label, node-ip, server URL or token would be written and never applied; and its
# `systemctl restart` of a Type=notify unit with TimeoutStartSec=0 never returns for an agent that cannot join.
# So the step restarts k3s itself whenever anything changed, and waits with its own bound (below, k3s_install).
# The installer is fetched to a file first, so a failed download is an error rather than an empty script piped to sh.

# write_if_changed FILE CONTENT: writes CONTENT to FILE (mode 0600) only if it differs; then sets config_changed=yes.
# $(cat) drops trailing newlines, so CONTENT comes without them and is written with one.
write_if_changed() {
  local file=$1 content=$2
  mkdir -p "$(dirname "$file")"
  if [ ! -f "$file" ] || [ "$(cat "$file")" != "$content" ]; then
    (umask 077 && printf '%s\n' "$content" >"$file.tmp" && mv "$file.tmp" "$file")
    config_changed=yes
  fi
  chmod 0600 "$file"
}

# The last lines of the service's journal since this step began.
k3s_journal() { journalctl -u "$service" -n "$journal_lines" --no-pager --since "$since" 2>&1 || true; }

# Each body (server.sh, agent.sh) defines the hooks k3s_install calls: k3s_ready (is k3s ready), k3s_stale (must a
# running k3s be restarted though nothing changed) and k3s_refused (does its journal say waiting is pointless).

restart_job=""
installer=""

# Has the restart this step started ended? Either the new k3s said READY, or it died first and systemd's
# Restart=always takes over, which `is-active` then follows.
k3s_restarted() {
  [ -n "$restart_job" ] || return 0
  ! kill -0 "$restart_job" 2>/dev/null || return 1
  wait "$restart_job" || echo "systemctl restart $service failed; waiting for systemd to start it again" >&2
  restart_job=""
}

# Sleeps ready_interval_s, or until the restart job ends, whichever comes first.
k3s_pause() {
  local _
  for _ in $(seq 1 $((ready_interval_s * 5))); do
    if [ -n "$restart_job" ] && ! kill -0 "$restart_job" 2>/dev/null; then return 0; fi
    sleep 0.2
  done
}

# On exit: the installer goes, and a restart job still waited for stops being waited for (its systemctl would hold
# the step's stderr, and so its SSH channel, open). The job itself stays with systemd.
k3s_cleanup() {
  [ -z "$installer" ] || rm -f "$installer"
  [ -z "$restart_job" ] || kill "$restart_job" 2>/dev/null || true
}

# k3s_install SERVICE UNINSTALL_SCRIPT WHAT [FILE CONTENT]...: writes the files, installs (or re-configures) k3s
# and restarts it if anything differs, then waits, bounded, for k3s_ready. Sets state to changed or unchanged.
k3s_install() {
  service=$1
  local uninstall=$2 what=$3 ready=no i
  shift 3
  config_changed=no
  while [ "$#" -ge 2 ]; do
    write_if_changed "$1" "$2"
    shift 2
  done
  since="@$(date +%s)"
  local installed
  installed="$(/usr/local/bin/k3s --version 2>/dev/null | head -n1 | awk '{print $3}' || true)"
  # shellcheck disable=SC2034 # state is read by the body that calls this (server.sh, agent.sh)
  if [ "$installed" = "$k3s_version" ] && [ "$config_changed" = no ] && [ -x "/usr/local/bin/$uninstall" ] \
    && systemctl is-active --quiet "$service" && ! k3s_stale; then
    state=unchanged
  else
    installer="$(mktemp)"
    trap k3s_cleanup EXIT
    curl -sfL "$install_script_url" -o "$installer" || fail "could not download the k3s installer from $install_script_url"
    INSTALL_K3S_SKIP_START=true INSTALL_K3S_VERSION=$k3s_version INSTALL_K3S_EXEC=$k3s_exec sh "$installer" >&2
    # systemd's own restart job, waited for in the background: `systemctl restart` returns once the new k3s said
    # READY (Type=notify), which one that cannot join never does (TimeoutStartSec=0), so the wait below keeps its
    # own bound and reads the journal meanwhile. Until that job has ended, nothing answers for the new k3s:
    # `--no-block` returns before the old process has even stopped, the old agent's Node stays Ready for the
    # node-monitor grace period, and a Jetson's containerd config is the old k3s's until the new one rewrites it
    # at start (k3s-io/k3s pkg/agent/run.go: READY comes after that).
    systemctl restart "$service" >&2 &
    restart_job=$!
    state=changed
  fi
  for i in $(seq 1 "$ready_attempts"); do
    if k3s_restarted && systemctl is-active --quiet "$service" && k3s_ready; then
      ready=yes
      break
    fi
    if k3s_refused; then
      fail "host $host: $what was refused; the last lines of its journal:
$(k3s_journal)"
    fi
    echo "waiting for $what, attempt $i/$ready_attempts" >&2
    k3s_pause
  done
  [ "$ready" = yes ] || fail "host $host: $what not ready after $((ready_attempts * ready_interval_s)) s; the last lines of its journal:
$(k3s_journal)"
}

# k3s_uninstall WHAT SCRIPT FILE...: runs k3s' uninstall script, told where k3s keeps its data (the scripts read
# K3S_DATA_DIR, not config.yaml), and removes FILEs.
k3s_uninstall() {
  local what=$1 script=$2
  shift 2
  if [ -x "/usr/local/bin/$script" ]; then
    K3S_DATA_DIR=$data_dir "/usr/local/bin/$script" >&2
    rm -f "$@"
    changed "$what uninstalled (data in $data_dir removed)"
  else
    rm -f "$@"
    unchanged "$what not installed"
  fi
}
