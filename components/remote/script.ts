/**
 * The script convention every remote step follows (STYLE.md, "Scripts are data"):
 * - one bash program holds both the step's `create` and its `delete` body; the command line only names the
 *   action (`bash -s -- create`), so pulumi-command, which replays the stored stdin on delete, runs the right body;
 * - `set -euo pipefail`, check before act;
 * - exactly one machine-readable line on stdout saying what changed: `TESTBED changed <what>` or
 *   `TESTBED unchanged <what>`, optionally followed by `TESTBED output <json>` for values later steps read.
 */

/** Prefix of the machine-readable lines a step prints. */
export const RESULT_PREFIX = "TESTBED";

export interface StepScript {
  /** Bash body that brings the host to the desired state; must call `changed` or `unchanged` once. */
  create: string;
  /** Bash body that undoes `create`; must be safe to run when there is nothing to undo. */
  delete?: string;
}

/** Shell helpers available to every step body. */
const PRELUDE = String.raw`changed() { echo "${RESULT_PREFIX} changed $*"; }
unchanged() { echo "${RESULT_PREFIX} unchanged $*"; }
output() { echo "${RESULT_PREFIX} output $*"; }
fail() { echo "$*" >&2; exit 1; }`;

/** Quotes a string for bash as one word. */
export function shq(value: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(value)) return value;
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** Builds the full program for a step: prelude, create and delete bodies, and the dispatcher. */
export function bundle(stepName: string, script: StepScript): string {
  return [
    "set -euo pipefail",
    `# testbed step: ${stepName}`,
    PRELUDE,
    "step_create() {",
    // Bodies are not re-indented: that would change multi-line quoted strings (cloud-init, config files).
    script.create.trim(),
    "}",
    "step_delete() {",
    script.delete ? script.delete.trim() : `unchanged "nothing to undo"`,
    "}",
    'case "${1:-create}" in',
    "  create) step_create ;;",
    "  delete) step_delete ;;",
    '  *) echo "unknown action: $1 (expected create or delete)" >&2; exit 64 ;;',
    "esac",
    "",
  ].join("\n");
}

export interface StepResult {
  changed: boolean;
  detail: string;
  /** The parsed `TESTBED output {...}` object, when the step printed one. */
  output?: Record<string, unknown>;
}

/** Reads the machine-readable lines a step printed. Throws when there is no result line. */
export function parseResult(stdout: string): StepResult {
  let result: StepResult | undefined;
  let output: Record<string, unknown> | undefined;
  for (const line of stdout.split("\n")) {
    const m = /^TESTBED (changed|unchanged|output)(?: (.*))?$/.exec(line.trim());
    if (!m) continue;
    if (m[1] === "output") output = JSON.parse(m[2] ?? "{}") as Record<string, unknown>;
    else result = { changed: m[1] === "changed", detail: m[2] ?? "" };
  }
  if (!result) throw new Error(`the step printed no "${RESULT_PREFIX} changed|unchanged" line:\n${stdout}`);
  return { ...result, output };
}

export type Privilege = "root" | "sudo" | "sudo-password";

/**
 * The variable that carries the sudo password from the login shell to the askpass helper, and nowhere else: sudo
 * runs the helper as the login user with sudo's own environment (sudo src/tgetpass.c, sudo_askpass: setuid to the
 * user, then execl), while the command runs in a reset environment (sudoers `env_reset`), and `env -u` drops the
 * variable again in case a site turned env_reset off.
 */
const PASSWORD_VAR = "TESTBED_SUDO_PASSWORD";

/**
 * The askpass helper: prints the password once. A second call (sudo asks again after a wrong password) prints
 * nothing, which sudo takes as a cancelled prompt (tgetpass.c, getln: EOF before any byte), so a wrong password
 * fails after one attempt instead of three.
 */
const ASKPASS_LINES = [
  "#!/bin/sh",
  'test ! -e "$0.used" || exit 1',
  ': > "$0.used"',
  `printf '%s\\n' "$${PASSWORD_VAR}"`,
];

/**
 * The command line that runs a bundled step (the bundle itself travels on stdin, never in the command line).
 *
 * With a sudo password, stdin's first line is the password, and the login user's shell (never root's) reads it with
 * `IFS= read -r` (byte by byte from a pipe, so the script after it stays on stdin). It reaches sudo only through a
 * 0700 askpass helper in a private `mktemp -d` directory, removed when the command ends; the helper holds no
 * password, it prints the variable sudo passes it. So root's bash gets only the script: when sudo does not ask
 * (a NOPASSWD rule, a cached credential ignored by `-k` or not), the password is never run as code, never printed,
 * and never in root's environment or in any command line. The line is POSIX sh: it runs in the login shell.
 */
export function runCommand(privilege: Privilege, action: "create" | "delete"): string {
  switch (privilege) {
    case "root":
      return `bash -s -- ${action}`;
    case "sudo":
      return `sudo -n bash -s -- ${action}`;
    case "sudo-password":
      return [
        'd="$(mktemp -d)" || exit 1',
        `trap 'rm -rf "$d"' EXIT`,
        `IFS= read -r p || { echo "testbed: no sudo password on stdin" >&2; exit 1; }`,
        `printf '%s\\n' ${ASKPASS_LINES.map(shq).join(" ")} > "$d/askpass" && chmod 700 "$d/askpass" && ` +
          `${PASSWORD_VAR}="$p" SUDO_ASKPASS="$d/askpass" sudo -k -A -p '' env -u ${PASSWORD_VAR} bash -s -- ${action}`,
      ].join("; ");
  }
}

/** What goes on stdin: the sudo password line (if any), then the bundle. */
export function stdinFor(privilege: Privilege, bundled: string, sudoPassword?: string): string {
  if (privilege !== "sudo-password") return bundled;
  if (sudoPassword === undefined || /[\r\n]/.test(sudoPassword))
    throw new Error("a sudo password must be given, on one line");
  return `${sudoPassword}\n${bundled}`;
}

/** How a script is run on a host, decided by the spec: as root, with passwordless sudo, or with a sudo password. */
export function privilegeOf(host: { user: string; sudoPassword?: unknown }): Privilege {
  if (host.user === "root") return "root";
  return host.sudoPassword !== undefined ? "sudo-password" : "sudo";
}
