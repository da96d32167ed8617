#!/usr/bin/env bash
# shellcheck shell=bash
# shellcheck disable=SC2154 # the values (data_dir, kubeconfig_file, api_port, cluster) come from the program's header
# Reads the join token and the admin kubeconfig. Its stdout is secret: the step runs with logging off and its
# outputs are wrapped in pulumi.secret. pulumi-command puts the whole output of a failed command into its error
# even then (provider/pkg/provider/remote/commandOutputs.go, v1.2.1, lines 77-101), so every check that can fail
# comes before the one line that prints the secrets.

step_create() {
  local token_path="$data_dir/server/node-token" token kubeconfig
  [ -s "$token_path" ] || fail "no join token at $token_path: is the k3s server running?"
  [ -s "$kubeconfig_file" ] || fail "no kubeconfig at $kubeconfig_file: is the k3s server running?"
  grep -q '^ *server: https://127\.0\.0\.1:'"$api_port"'$' "$kubeconfig_file" \
    || fail "the kubeconfig at $kubeconfig_file does not point at https://127.0.0.1:$api_port, the address this step replaces with the server's; check clusters.$cluster.extraArgs"
  token="$(cat "$token_path")"
  case "$token" in
    K10*::*) ;;
    *) fail "the join token at $token_path is not in k3s' K10<CA hash>::<credentials> form (its value is not shown)" ;;
  esac
  kubeconfig="$(base64 -w0 <"$kubeconfig_file")"
  # Last, and nothing after it can fail.
  output "$(json_object token "$token" kubeconfig "$kubeconfig")"
  unchanged "read the join token and kubeconfig of cluster $cluster"
}
