#!/usr/bin/env bash
# shellcheck shell=bash
# Every host's first step, "reachable" (preflightScript in host.ts): facts about the host, and a clear failure when
# it is not what the spec says. The values come from the program's header: host_name, login_user, spec_arch,
# uname_machines (what `uname -m` prints for spec_arch) and check_sudo_password (true when the spec gives the host
# a sudo password).

# With a sudo password, sudo itself is asked whether it would ask the login user for one (`sudo -k -n true` run as
# that user succeeds only when it would not), rather than reading sudoers rules: `!authenticate`, a group rule or an
# LDAP policy all skip the password without a `NOPASSWD: ALL` line. The password could not leak then (see
# runCommand in script.ts), but a password the host never asks for is a stale secret in the stack.
# shellcheck disable=SC2154 # host_name, login_user, spec_arch, uname_machines, check_sudo_password: the header's
as_login_user() {
  if command -v runuser >/dev/null 2>&1; then
    runuser -u "${SUDO_USER:-$login_user}" -- "$@"
  else
    # shellcheck disable=SC2016 # "$@" is expanded by the inner sh, which gets the arguments after its name
    su -s /bin/sh "${SUDO_USER:-$login_user}" -c '"$@"' sh "$@"
  fi
}

step_create() {
  local machine os="unknown" m expected="" known=false
  [ "$(id -u)" -eq 0 ] || fail "host $host_name: the step did not get root (sudo failed)"
  if [ "$check_sudo_password" = true ] && as_login_user sudo -k -n true </dev/null >/dev/null 2>&1; then
    fail "host $host_name: sudo does not ask $login_user for a password, but hosts.$host_name.sudoPassword is set; remove it from the stack"
  fi
  machine="$(uname -m)"
  for m in "${uname_machines[@]}"; do
    [ "$machine" != "$m" ] || known=true
    expected="${expected:+$expected or }$m"
  done
  [ "$known" = true ] ||
    fail "host $host_name: uname -m says $machine, but hosts.$host_name.arch is $spec_arch (expected $expected)"
  if [ -r /etc/os-release ]; then
    # shellcheck source=/dev/null # the host's own file
    os="$(. /etc/os-release && echo "${ID:-unknown}-${VERSION_ID:-}")"
  fi
  output "$(json_object arch "$machine" os "$os" kernel "$(uname -r)")"
  unchanged "reachable as $(id -un), $machine, $os"
}
