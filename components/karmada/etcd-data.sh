#!/usr/bin/env bash
# shellcheck shell=bash
# shellcheck disable=SC2154 # the values (etcd_path, namespace_dir, release_gone_wait_s) come from the program's header
# On the Karmada host, created before the chart's Release and so deleted after it: the chart's internal etcd keeps
# its data in a hostPath (chart 1.13.0 templates/etcd.yaml, lines 109-112, type DirectoryOrCreate), which `helm uninstall` does not remove
# (its post-delete hook, templates/post-delete-job.yaml lines 47-52, deletes only API objects: the certificate and
# kubeconfig Secrets, CRDs, static resources). Left there, the next install's etcd starts on the old data, and the
# new Karmada serves the old Clusters, policies and bindings (karmada-io/karmada #5582, #2735). Its delete removes it.

# Processes (pids) with a file or working directory under the etcd data path: an etcd pod still terminating. One
# find over /proc (its -lname reads each link's target; `*` there also matches `/`); processes that exit meanwhile
# are skipped. The path is the chart's fixed one (values.ts, etcdPathError), with no glob characters.
holders() {
  { find /proc/[0-9]*/fd /proc/[0-9]*/cwd -maxdepth 1 \( -lname "$etcd_path" -o -lname "$etcd_path/*" \) \
    -print 2>/dev/null || true; } | cut -d/ -f3 | sort -un | tr '\n' ' '
}

step_create() {
  if [ -d "$etcd_path/member" ]; then
    unchanged "Karmada's etcd data at $etcd_path is in use; removed on destroy"
  else
    unchanged "no Karmada etcd data at $etcd_path yet; removed on destroy"
  fi
}

step_delete() {
  local i held=""
  # helm uninstall returns once the API objects are deleted, before the etcd pod has stopped: wait (bounded) until
  # nothing has the data open, so a late write does not recreate what was removed.
  for ((i = 0; i < release_gone_wait_s; i++)); do
    held="$(holders)"
    [ -z "$held" ] && break
    sleep 1
  done
  [ -z "$held" ] || fail "Karmada's etcd data at $etcd_path is still in use (pids: ${held% }) after ${release_gone_wait_s} s: is the chart's etcd still running?"
  if [ -e "$etcd_path" ]; then
    rm -rf --one-file-system -- "$etcd_path"
    # The namespace's directory, which the hostPath's DirectoryOrCreate made, only if nothing else is in it.
    rmdir -- "$namespace_dir" 2>/dev/null || true
    changed "removed Karmada's etcd data at $etcd_path"
  else
    rmdir -- "$namespace_dir" 2>/dev/null || true
    unchanged "no Karmada etcd data at $etcd_path"
  fi
}
