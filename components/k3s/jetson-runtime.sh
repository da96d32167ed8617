#!/usr/bin/env bash
# shellcheck shell=bash
# shellcheck disable=SC2154 # the values (host, runtime_dirs) come from the program's header
# Jetson: k3s registers the `nvidia` runtime only if nvidia-container-runtime is a file in one of runtime_dirs
# when it starts (k3s-io/k3s pkg/agent/containerd/runtimes.go, findNvidiaContainerRuntimes(): those paths, not
# PATH; nvidia-ctk is not the runtime). The agent's step then confirms containerd's config names it.

step_create() {
  local runtime="" dir elsewhere gpu where
  for dir in "${runtime_dirs[@]}"; do
    if [ -f "$dir/nvidia-container-runtime" ]; then
      runtime="$dir/nvidia-container-runtime"
      break
    fi
  done
  if [ -z "$runtime" ]; then
    elsewhere="$(command -v nvidia-container-runtime || true)"
    printf -v where '%s or ' "${runtime_dirs[@]}"
    fail "host $host: k3s registers the nvidia runtime only when nvidia-container-runtime is in ${where% or }, and it is in neither${elsewhere:+ (there is one at $elsewhere, where k3s does not look)}; install nvidia-container-toolkit (JetPack ships it)"
  fi
  gpu="$(nvidia-smi -L 2>/dev/null | head -n1 || true)"
  unchanged "NVIDIA container runtime at $runtime${gpu:+; $gpu}"
}
