#!/usr/bin/env bash
# shellcheck shell=bash
# shellcheck disable=SC2154 # the values (host, cgroup_flags) come from the program's header
# Raspberry Pi, after the pi-cgroups step: the first step to connect after its reboot (its dial waits for the Pi),
# and the check that the reboot gave k3s its memory cgroup (memory_cgroup_enabled, cgroup.sh).

step_create() {
  memory_cgroup_enabled || fail "host $host: the kernel has no memory cgroup, though cmdline.txt asks for it (${cgroup_flags[*]}); did the reboot happen? Reboot the Pi and run again"
  unchanged "memory cgroup enabled; up $(cut -d' ' -f1 /proc/uptime) s"
}
