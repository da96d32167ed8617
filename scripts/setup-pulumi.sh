#!/usr/bin/env bash
# Makes the real Pulumi engine available to this project: the Pulumi CLI, its Node.js language host and the
# pulumi-command provider (pulumi-resource-command), at versions that match node_modules.
#
# - A `pulumi` on PATH whose version is at least the installed @pulumi/pulumi's is used as it is (the official
#   CLI brings its language hosts); only the command plugin is installed into it when missing.
# - Otherwise, where Go is present, it builds the three programs from their Go modules into a cache outside the
#   work tree, ${XDG_CACHE_HOME:-$HOME/.cache}/testbed/pulumi-v<version>/bin (GOCACHE and GOMODCACHE there too),
#   each once, and registers the plugin with `pulumi plugin install resource command <v> --file <binary>`.
#   The Go module proxy serves the CLI's module (github.com/pulumi/pulumi/pkg/v3) but, as far as we have seen,
#   neither the language host's own module nor pulumi-command's provider module. The language host comes from a
#   clone of github.com/pulumi/pulumi given in PULUMI_GIT (the exact version), else from the nearest version the
#   proxy serves (see below). The provider has no served version at all: it needs a clone of
#   github.com/pulumi/pulumi-command in PULUMI_COMMAND_GIT, at the commit of the pinned tag. See README.md,
#   "The real Pulumi engine".
#
# Prints `setup-pulumi: changed ...` or `setup-pulumi: unchanged ...`, and on its last stdout line the bin
# directory to put first on PATH. Exit 0 ok; 2 when neither a fitting CLI nor the means to build one exist.
set -euo pipefail
cd "$(dirname "$0")/.."

# The pulumi-command release tags and their commits (the provider module has no tags of its own, so Go needs
# the commit). Add a line when package.json moves to another @pulumi/command.
command_commit() {
  case "$1" in
    1.2.1) echo 7f3eb6f3b77cd0fa3895ba437a695dd393f7dd25 ;;
    *) return 1 ;;
  esac
}

# The Pulumi release tags and their commits (github.com/pulumi/pulumi, tag v<version>), for when the Go module
# proxy's .info carries no Origin. Add a line when package.json moves to another @pulumi/pulumi.
pulumi_commit_of() {
  case "$1" in
    v3.248.0) echo dc7edd58bc13179f81b80983aab4eb7f74a01b41 ;;
    *) return 1 ;;
  esac
}

die() {
  echo "setup-pulumi: $*" >&2
  exit 2
}
log() { echo "setup-pulumi: $*" >&2; }

pkg_version() {
  local f="node_modules/$1/package.json"
  [ -f "$f" ] || die "$f is missing: run npm ci first"
  node -p "require('./$f').version"
}
sdk_version=$(pkg_version @pulumi/pulumi)
command_version=$(pkg_version @pulumi/command)

# version_ge A B: A >= B as versions.
version_ge() { [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n1)" = "$2" ]; }

changes=()

# The command plugin, registered with the CLI `$1`; built binary in `$2` when there is one.
ensure_plugin() {
  local cli=$1 binary=${2:-}
  if "$cli" plugin ls 2>/dev/null | awk -v v="$command_version" '$1 == "command" && $2 == "resource" && $3 == v { f = 1 } END { exit !f }'; then
    return 0
  fi
  if [ -n "$binary" ]; then
    "$cli" plugin install resource command "$command_version" --file "$binary" >&2
  else
    # The official CLI downloads the plugin from Pulumi's release site.
    "$cli" plugin install resource command "$command_version" >&2
  fi
  changes+=("registered plugin resource command $command_version")
}

finish() {
  local bin=$1
  if [ "${#changes[@]}" -eq 0 ]; then
    log "unchanged (pulumi $("$bin/pulumi" version), plugin command $command_version)"
    echo "setup-pulumi: unchanged"
  else
    log "changed: $(
      IFS=';'
      echo "${changes[*]}"
    )"
    echo "setup-pulumi: changed"
  fi
  echo "$bin"
  exit 0
}

# 1. A pulumi on PATH that fits.
if [ -z "${TESTBED_PULUMI_BUILD:-}" ] && command -v pulumi >/dev/null 2>&1; then
  have=$(pulumi version 2>/dev/null | sed 's/^v//')
  if [ -n "$have" ] && version_ge "$have" "$sdk_version"; then
    ensure_plugin pulumi
    finish "$(dirname "$(command -v pulumi)")"
  fi
  log "pulumi on PATH is ${have:-of unknown version}, older than @pulumi/pulumi $sdk_version: not used"
fi

# 2. Build from the Go modules.
if ! command -v go >/dev/null 2>&1; then
  die "no Pulumi CLI of version >= $sdk_version and no Go to build one.
  Install the Pulumi CLI (https://www.pulumi.com/docs/install/), then run this script again,
  or install Go 1.25+ and run it again to build the CLI from its Go modules."
fi

cache=${XDG_CACHE_HOME:-$HOME/.cache}/testbed/pulumi-v$sdk_version
bin=$cache/bin
mkdir -p "$bin" "$cache/src"
export GOMODCACHE=$cache/gomod GOCACHE=$cache/gocache GOFLAGS=-mod=mod GOTOOLCHAIN=${GOTOOLCHAIN:-local}
export GOPROXY=${GOPROXY:-https://proxy.golang.org}
timings=$cache/build-times.txt
# Go's own output (hundreds of "go: downloading" lines) goes to a log; on a failure its tail is shown.
golog=$cache/build.log
quiet() {
  "$@" >>"$golog" 2>&1 || {
    tail -n 30 "$golog" >&2
    die "failed: $* (full log: $golog)"
  }
}

# build NAME: runs the rest of the arguments niced, records its wall time.
build() {
  local name=$1 start end
  shift
  log "building $name (slow: minutes on 2 cores)"
  start=$(date +%s)
  quiet nice -n 10 "$@"
  end=$(date +%s)
  echo "$(date -u +%FT%TZ) $name $((end - start)) s (go $(go env GOVERSION), $(nproc) cores)" >>"$timings"
  log "built $name in $((end - start)) s"
}

# The CLI: a wrapper module that requires pkg/v3 and sdk/v3 at the same tag (pkg's own go.mod replaces sdk with
# ../sdk, which only works in Pulumi's repository, so `go install pkg@version` refuses it).
pulumi_tag=v$sdk_version
pkg_json=$(go mod download -json "github.com/pulumi/pulumi/pkg/v3@$pulumi_tag") ||
  die "the Go module proxy does not serve github.com/pulumi/pulumi/pkg/v3@$pulumi_tag (go list -m -versions github.com/pulumi/pulumi/pkg/v3 shows what it serves)"
json_field() { node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const v=process.argv[1].split(".").reduce((o,k)=>o?.[k],JSON.parse(s));if(v===undefined)process.exit(1);console.log(typeof v==="string"?v:JSON.stringify(v))})' "$1"; }
# The tag's commit: from the proxy's Origin record when it gives one (it did not, on every day), else known here.
pulumi_commit=$(printf '%s' "$pkg_json" | json_field Origin.Hash) || pulumi_commit=$(pulumi_commit_of "$pulumi_tag") ||
  pulumi_commit=
pkg_gomod=$(printf '%s' "$pkg_json" | json_field GoMod)
# Replaces of pkg's go.mod other than those to paths inside Pulumi's repository (e.g. its clipboard fork).
foreign_replaces() {
  go mod edit -json "$1" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{for(const r of JSON.parse(s).Replace??[])if(r.New.Version)console.log(r.Old.Path+"="+r.New.Path+"@"+r.New.Version)})'
}
version_ldflag="-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$pulumi_tag"

# git_source VAR REPO COMMIT SUBDIR DEST: SUBDIR of COMMIT from the clone named by $VAR, into DEST.
git_source() {
  local var=$1 repo=$2 commit=$3 sub=$4 dest=$5 dir
  dir=${!var:-}
  [ -n "$dir" ] || die "the Go module proxy does not serve $repo's $sub. Clone https://$repo and run again with
  $var=/path/to/the/clone (it needs commit $commit), or install the official Pulumi CLI."
  git -C "$dir" cat-file -e "$commit^{commit}" 2>/dev/null || die "$var=$dir has no commit $commit of $repo: git fetch --tags there"
  rm -rf "$dest" && mkdir -p "$dest"
  git -C "$dir" archive "$commit" "$sub" | tar -x -C "$dest"
}

# The provider is the one program no served module gives (see above): know where it comes from before spending
# minutes on the CLI, so a machine that cannot finish says so at once.
provider=$cache/provider/pulumi-resource-command
command_source=
if [ ! -x "$provider" ]; then
  commit=$(command_commit "$command_version") ||
    die "no commit known for @pulumi/command $command_version: add it to command_commit in $0"
  if go mod download -json "github.com/pulumi/pulumi-command/provider@$commit" >"$cache/src/command.json" 2>/dev/null; then
    command_source=proxy
  elif [ -n "${PULUMI_COMMAND_GIT:-}" ]; then
    command_source=git
    git -C "$PULUMI_COMMAND_GIT" cat-file -e "$commit^{commit}" 2>/dev/null ||
      die "PULUMI_COMMAND_GIT=$PULUMI_COMMAND_GIT has no commit $commit of github.com/pulumi/pulumi-command: git fetch --tags there"
  else
    git_source PULUMI_COMMAND_GIT github.com/pulumi/pulumi-command "$commit" provider /nonexistent
  fi
fi

if [ ! -x "$bin/pulumi" ]; then
  src=$cache/src/cli
  rm -rf "$src" && mkdir -p "$src"
  (
    cd "$src"
    go mod init testbed.local/pulumi-cli 2>/dev/null
    printf '//go:build tools\n\npackage tools\n\nimport _ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"\n' >tools.go
    quiet go get "github.com/pulumi/pulumi/pkg/v3@$pulumi_tag" "github.com/pulumi/pulumi/sdk/v3@$pulumi_tag"
    while read -r r; do go mod edit -replace "$r"; done < <(foreign_replaces "$pkg_gomod")
    quiet go mod tidy
    build "pulumi CLI $pulumi_tag" go build -trimpath -ldflags "$version_ldflag" -o "$bin/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
  )
  changes+=("pulumi CLI $pulumi_tag")
fi


# The Node.js language host. Since v3.69.0 it is its own module, github.com/pulumi/pulumi/sdk/nodejs/cmd/
# pulumi-language-nodejs/v3, with no tags (so Go needs the CLI's commit), and the Go module proxy has refused it at
# every version we asked for (403). In that order:
#   1. that module at the CLI's commit, where the proxy serves it;
#   2. the same source from a clone of github.com/pulumi/pulumi given in PULUMI_GIT;
#   3. the nearest version the proxy does serve: github.com/pulumi/pulumi/sdk/v3@LANGHOST_FALLBACK, the newest
#      sdk/v3 that still holds sdk/nodejs/cmd/pulumi-language-nodejs as a package (v3.69.0 split it out). The
#      language host only starts node on @pulumi/pulumi's own cmd/run from node_modules and relays the engine's
#      gRPC, so the program and the SDK are still the installed ones; the CLI copes with the RPCs the older host
#      lacks. test/real-engine runs up, a second up, preview and destroy with it. See README.md, "The real Pulumi
#      engine".
# The version built is written next to it, in pulumi-language-nodejs.version.
LANGHOST_FALLBACK=v3.68.0
langhost_version_file=$bin/pulumi-language-nodejs.version
if [ ! -x "$bin/pulumi-language-nodejs" ]; then
  mod=github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3
  src=$cache/src/language-nodejs
  langhost_from=
  if [ -n "$pulumi_commit" ] && go mod download -json "$mod@$pulumi_commit" >"$cache/src/langhost.json" 2>/dev/null; then
    rm -rf "$src" && mkdir -p "$src"
    cp -r "$(json_field Dir <"$cache/src/langhost.json")/." "$src" && chmod -R u+w "$src"
    langhost_from="$mod@$pulumi_commit"
  elif [ -n "${PULUMI_GIT:-}" ]; then
    [ -n "$pulumi_commit" ] || die "no commit known for $pulumi_tag: add it to pulumi_commit_of in $0"
    log "the Go module proxy does not serve $mod@$pulumi_commit; taking it from PULUMI_GIT"
    git_source PULUMI_GIT github.com/pulumi/pulumi "$pulumi_commit" sdk/nodejs/cmd/pulumi-language-nodejs "$src.tmp"
    rm -rf "$src" && mv "$src.tmp/sdk/nodejs/cmd/pulumi-language-nodejs" "$src" && rm -rf "$src.tmp"
    langhost_from="github.com/pulumi/pulumi@$pulumi_commit (PULUMI_GIT)"
  fi
  if [ -n "$langhost_from" ]; then
    (
      cd "$src"
      # Its go.mod replaces pkg and sdk with paths inside Pulumi's repository: use the served modules instead.
      rm -rf testdata ./*_test.go
      go mod edit -dropreplace github.com/pulumi/pulumi/pkg/v3 -dropreplace github.com/pulumi/pulumi/sdk/v3 \
        -require "github.com/pulumi/pulumi/pkg/v3@$pulumi_tag" -require "github.com/pulumi/pulumi/sdk/v3@$pulumi_tag"
      quiet go mod tidy
      build "pulumi-language-nodejs $pulumi_tag" go build -trimpath -ldflags "$version_ldflag" -o "$bin/pulumi-language-nodejs" .
    )
    echo "$pulumi_tag $langhost_from" >"$langhost_version_file"
  else
    log "the Go module proxy does not serve $mod, and PULUMI_GIT is not set: building the language host of" \
      "github.com/pulumi/pulumi/sdk/v3@$LANGHOST_FALLBACK, the nearest version the proxy serves"
    src=$cache/src/language-nodejs-$LANGHOST_FALLBACK
    rm -rf "$src" && mkdir -p "$src"
    (
      cd "$src"
      go mod init testbed.local/pulumi-language-nodejs 2>/dev/null
      printf '//go:build tools\n\npackage tools\n\nimport _ "github.com/pulumi/pulumi/sdk/v3/nodejs/cmd/pulumi-language-nodejs"\n' >tools.go
      quiet go get "github.com/pulumi/pulumi/sdk/v3@$LANGHOST_FALLBACK"
      quiet go mod tidy
      build "pulumi-language-nodejs $LANGHOST_FALLBACK" go build -trimpath \
        -ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$LANGHOST_FALLBACK" \
        -o "$bin/pulumi-language-nodejs" github.com/pulumi/pulumi/sdk/v3/nodejs/cmd/pulumi-language-nodejs
    )
    echo "$LANGHOST_FALLBACK github.com/pulumi/pulumi/sdk/v3@$LANGHOST_FALLBACK (nearest served)" >"$langhost_version_file"
  fi
  changes+=("pulumi-language-nodejs $(cut -d' ' -f1 "$langhost_version_file")")
fi
[ -f "$langhost_version_file" ] || echo "$pulumi_tag (built before this file was kept)" >"$langhost_version_file"

# pulumi-resource-command, at the commit of its release tag.
# Kept out of bin/: the CLI prefers a provider found on PATH over the registered plugin, and says so in a warning.
if [ ! -x "$provider" ]; then
  mod=github.com/pulumi/pulumi-command/provider
  src=$cache/src/command-provider
  if [ "$command_source" = proxy ]; then
    rm -rf "$src" && mkdir -p "$src"
    cp -r "$(json_field Dir <"$cache/src/command.json")/." "$src" && chmod -R u+w "$src"
  else
    log "the Go module proxy does not serve $mod@$commit; taking it from PULUMI_COMMAND_GIT"
    git_source PULUMI_COMMAND_GIT github.com/pulumi/pulumi-command "$commit" provider "$src.tmp"
    rm -rf "$src" && mv "$src.tmp/provider" "$src" && rm -rf "$src.tmp"
  fi
  (
    cd "$src"
    build "pulumi-resource-command $command_version" go build -trimpath \
      -ldflags "-X github.com/pulumi/pulumi-command/provider/pkg/version.Version=$command_version" \
      -o "$provider" ./cmd/pulumi-resource-command
  )
  changes+=("pulumi-resource-command $command_version")
fi

# The plugin is registered under PULUMI_HOME (~/.pulumi); no update checks or downloads from here on.
export PULUMI_SKIP_UPDATE_CHECK=1 PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=1
ensure_plugin "$bin/pulumi" "$provider"
finish "$bin"
