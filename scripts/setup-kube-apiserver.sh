#!/usr/bin/env bash
# Builds kube-apiserver from the k8s.io/kubernetes Go module into a cache outside the work tree, for the tests that
# send the program's Kubernetes objects to a real API server (see the README, "A real kube-apiserver").
#
# Kubernetes does not publish k8s.io/kubernetes as a library: its go.mod requires each staging module (k8s.io/api,
# k8s.io/apiserver, ...) at v0.0.0 and replaces it with ./staging/src/..., which a module depending on it cannot use.
# The wrapper module generated here replaces each of them with its published v0.<minor>.<patch> instead; its main.go
# is upstream's cmd/kube-apiserver/apiserver.go. Nothing of it is committed: the script writes both into the cache.
#
# Safe to run twice: it rebuilds only when the binary is missing or was built from another wrapper or Go.
# Needs Go and the Go module proxy (about 1 GB of modules on the first run). No root.
set -euo pipefail

# k3s v1.31.6+k3s1 embeds Kubernetes v1.31.6; v1.31.4 is the nearest version for which the Go module proxy serves
# every module the build needs (at v1.31.5 and v1.31.6 it does not serve k8s.io/dynamic-resource-allocation).
version="${KUBE_APISERVER_VERSION:-v1.31.4}"
case "$version" in
  v1.*.*) ;;
  *)
    echo "setup-kube-apiserver: KUBE_APISERVER_VERSION must look like v1.31.6, got: $version" >&2
    exit 2
    ;;
esac
staging="v0.${version#v1.}" # k8s.io/kubernetes v1.31.6 ships its staging modules as v0.31.6
cache="${XDG_CACHE_HOME:-$HOME/.cache}/testbed/kube-apiserver-$version"
src="$cache/src"
bin="$cache/bin/kube-apiserver"
stamp="$cache/bin/kube-apiserver.stamp"

command -v go >/dev/null || {
  echo "setup-kube-apiserver: go not found in PATH" >&2
  exit 2
}

export GOCACHE="$cache/gocache"
export GOMODCACHE="$cache/gomodcache"
export GOTOOLCHAIN=local
export CGO_ENABLED=0 # as upstream builds kube-apiserver: a static binary
export GOFLAGS="-modcacherw -buildvcs=false"
mkdir -p "$src" "$cache/bin"

# Upstream's go.mod names the staging modules; each gets a replace to its published version.
upstream_mod="$(go mod download -json "k8s.io/kubernetes@$version" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p')"
if [ ! -f "$upstream_mod" ]; then
  echo "setup-kube-apiserver: go mod download k8s.io/kubernetes@$version gave no go.mod" >&2
  exit 1
fi
mapfile -t staged < <(sed -n 's|^[[:space:]]*\(k8s\.io/[a-z0-9-]*\) => \./staging/src/k8s\.io/[a-z0-9-]*$|\1|p' "$upstream_mod")
if [ "${#staged[@]}" -eq 0 ]; then
  echo "setup-kube-apiserver: found no staging replaces in $upstream_mod" >&2
  exit 1
fi

want_mod="$(
  printf 'module testbed.local/kube-apiserver\n\ngo 1.22.0\n\nrequire k8s.io/kubernetes %s\n\nreplace (\n' "$version"
  for m in "${staged[@]}"; do printf '\t%s => %s %s\n' "$m" "$m" "$staging"; done
  printf ')\n'
)"
# Upstream's cmd/kube-apiserver/apiserver.go, less its comments.
want_main='package main

import (
	"os"
	_ "time/tzdata"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	command := app.NewAPIServerCommand()
	code := cli.Run(command)
	os.Exit(code)
}'
want_stamp="$(printf '%s\n%s\n%s\n' "$(go version)" "$want_mod" "$want_main" | sha256sum | cut -d' ' -f1)"

if [ -x "$bin" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want_stamp" ]; then
  echo "setup-kube-apiserver: unchanged ($bin, $("$bin" --version))"
  exit 0
fi

printf '%s\n' "$want_mod" >"$src/go.mod"
printf '%s\n' "$want_main" >"$src/main.go"
rm -f "$src/go.sum"
start=$(date +%s)
cd "$src"
# The same version stamps upstream's hack/lib/version.sh sets, so /version answers like a real v1.31.6.
ldflags="-s -w"
for kv in "gitVersion=$version" "gitMajor=1" "gitMinor=$(echo "$version" | cut -d. -f2)" "gitTreeState=clean"; do
  ldflags="$ldflags -X k8s.io/component-base/version.$kv -X k8s.io/client-go/pkg/version.$kv"
done
# -mod=mod, not go mod tidy: tidy also resolves the tests of every dependency, whose modules (k8s.io/cri-client
# and others) the binary does not need and the module proxy does not serve at every version.
nice -n 10 go build -mod=mod -trimpath -ldflags "$ldflags" -o "$bin.tmp" .
mv "$bin.tmp" "$bin"
printf '%s\n' "$want_stamp" >"$stamp"
echo "setup-kube-apiserver: changed (built $bin in $(($(date +%s) - start)) s, $(du -m "$bin" | cut -f1) MB, $("$bin" --version))"
