#!/usr/bin/env bash
# Runs shellcheck on every shell file in the repository: the steps' .sh files, their rendered programs pinned by the
# snapshot tests (__snapshots__/*.sh), the sim's doubles and the setup scripts (CONTRIBUTING.md, "Steps are
# scripts, and scripts are data"). Files are found by extension or by a sh/bash shebang.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v shellcheck >/dev/null || {
  echo "lint-shell: shellcheck is missing (Debian: apt-get install shellcheck; scripts/setup-sim-host.sh installs it)" >&2
  exit 2
}
files=()
while IFS= read -r -d '' f; do
  [ -f "$f" ] || continue
  case "$f" in
    *.sh) files+=("$f") ;;
    *.ts | *.js | *.mjs | *.mts | *.json | *.md | *.yaml | *.yml | *.txt | *.log) ;;
    *) if head -n1 "$f" | grep -Eq '^#!.*\b(ba)?sh\b'; then files+=("$f"); fi ;;
  esac
done < <(git ls-files -z --cached --others --exclude-standard)
shellcheck --severity=style "${files[@]}"
echo "lint-shell: ${#files[@]} files clean"
