#!/usr/bin/env bash
# shellcheck shell=bash
# Shared by the Raspberry Pi's steps (pi-cgroups.sh, memory-cgroup.sh follow this file in their programs).

# Whether the running kernel has the memory cgroup k3s needs (cgroup v2, then v1).
memory_cgroup_enabled() {
  grep -qw memory /sys/fs/cgroup/cgroup.controllers 2>/dev/null || grep -q '^memory.*1$' /proc/cgroups 2>/dev/null
}
