#!/usr/bin/env bash
# shellcheck shell=bash
# shellcheck disable=SC2154 # the values (cgroup_flags) come from the program's header
# Raspberry Pi: k3s needs the memory cgroup. The flags go into cmdline.txt (backed up once, restored on delete);
# the Pi is rebooted only when the running kernel lacks the memory controller (memory_cgroup_enabled, cgroup.sh).
# The reboot fires 2 s after the step returns (so that its result gets out): a step that connected in between
# would be killed by it. So before returning, the step stops sshd's listener (sessions, this one included, stay:
# Debian's ssh.service has KillMode=process): the next step's dial is refused until the Pi is back, and the
# memory-cgroup step, dialling with a longer budget, is that next step.

step_create() {
  local cmdline="" f flag missing="" what
  for f in /boot/firmware/cmdline.txt /boot/cmdline.txt; do
    if [ -f "$f" ]; then
      cmdline="$f"
      break
    fi
  done
  [ -n "$cmdline" ] || fail "no cmdline.txt in /boot/firmware or /boot: is this a Raspberry Pi? (hosts.*.board)"
  for flag in "${cgroup_flags[@]}"; do grep -qw -- "$flag" "$cmdline" || missing="$missing $flag"; done
  if [ -n "$missing" ]; then
    [ -f "$cmdline.testbed-orig" ] || cp -p "$cmdline" "$cmdline.testbed-orig"
    sed -i "1 s/\$/$missing/" "$cmdline"
    what="added$missing to $cmdline"
  else
    what="$cmdline has ${cgroup_flags[*]}"
  fi
  if memory_cgroup_enabled; then
    if [ -n "$missing" ]; then changed "$what"; else unchanged "$what; memory cgroup enabled"; fi
  else
    nohup sh -c 'sleep 2; reboot' >/dev/null 2>&1 &
    systemctl stop ssh.socket >/dev/null 2>&1 || true
    systemctl stop ssh.service >&2 || fail "could not stop sshd before the reboot (a step connecting now would be killed by it)"
    changed "$what; rebooting to enable the memory cgroup"
  fi
}

step_delete() {
  local f
  for f in /boot/firmware/cmdline.txt /boot/cmdline.txt; do
    if [ -f "$f.testbed-orig" ]; then
      mv "$f.testbed-orig" "$f"
      changed "restored $f"
      return 0
    fi
  done
  unchanged "cmdline.txt was not changed"
}
