import * as fs from "node:fs";
import * as path from "node:path";

/**
 * The script convention every remote step follows (CONTRIBUTING.md, "Steps are scripts, and scripts are data"):
 * - a step's fixed bash lives in a `.sh` file next to its component; it defines `step_create` and, when there is
 *   something to undo, `step_delete`. One program holds both, and the command line only names the action
 *   (`bash -s -- create`), so pulumi-command, which replays the stored stdin on delete, runs the right body;
 * - every value the bash reads enters in one place: the program's header of `readonly name=<quoted>` lines, each
 *   quoted by `shq`; no value is spliced into a body;
 * - `set -euo pipefail`, check before act;
 * - exactly one machine-readable line on stdout saying what changed: `TESTBED changed <what>` or
 *   `TESTBED unchanged <what>`, optionally with `TESTBED output <json>` (built by the prelude's `json_*` helpers)
 *   for values later steps read.
 */

const cache = new Map<string, string>();

/** Prefix of the machine-readable lines a step prints. */
export const RESULT_PREFIX = "TESTBED";

/** A value a step's bash reads: a string, a number, a boolean (`true`/`false`), or a list (a bash array). */
export type ScriptValue = string | number | boolean | readonly string[];

export interface StepScript {
  /** The values the bash reads, by name (lower_snake_case): the program's header. */
  values?: Record<string, ScriptValue>;
  /** The fixed bash (from the step's `.sh` files): defines `step_create`, and `step_delete` if there is anything to undo. */
  body: string;
}

/**
 * Shell helpers available to every step: the result lines, `fail`, and JSON built from values (quotes, backslashes
 * and control characters escaped), never by string concatenation.
 */
export const PRELUDE = readShellFile(__dirname, "prelude.sh");

/** Quotes a string for bash as one word. */
export function shq(value: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(value)) return value;
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

const VALUE_NAME = /^[a-z_][a-z0-9_]*$/;

/** The header line that gives a script one value: `readonly name=<quoted>` (a list: `readonly -a name=(...)`). */
export function valueLine(name: string, value: ScriptValue): string {
  if (!VALUE_NAME.test(name)) throw new Error(`script value name ${JSON.stringify(name)} is not lower_snake_case`);
  if (typeof value === "number" && !Number.isFinite(value))
    throw new Error(`script value ${name} is ${value}, not a finite number`);
  if (Array.isArray(value)) return `readonly -a ${name}=(${value.map((v) => shq(String(v))).join(" ")})`;
  return `readonly ${name}=${shq(String(value))}`;
}

/**
 * A step's fixed bash, read from a `.sh` file beside the component (`dir` is its `__dirname`). The file is a real
 * shell file, shellchecked on its own by `npm run lint`; a leading shebang or shellcheck directive stays a comment.
 */
export function readShellFile(dir: string, name: string): string {
  const file = path.join(dir, name);
  let text = cache.get(file);
  if (text === undefined) {
    text = fs
      .readFileSync(file, "utf8")
      .replace(/^#!.*\n/, "")
      .trim();
    cache.set(file, text);
  }
  return text;
}

/**
 * The full program of a step: `set -euo pipefail`, its name, the values' header, the prelude, the body, and the
 * dispatcher that runs the body the action names.
 */
export function stepProgram(stepName: string, script: StepScript): string {
  return [
    "set -euo pipefail",
    `# testbed step: ${stepName.replace(/[\r\n]/g, " ")}`,
    ...Object.entries(script.values ?? {}).map(([name, value]) => valueLine(name, value)),
    PRELUDE,
    // Bodies are not re-indented: that would change multi-line quoted strings (cloud-init, config files).
    script.body.trim(),
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
 * The command line that runs a step's program (the program itself travels on stdin, never in the command line).
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

/** What goes on stdin: the sudo password line (if any), then the program. */
export function stdinFor(privilege: Privilege, program: string, sudoPassword?: string): string {
  if (privilege !== "sudo-password") return program;
  if (sudoPassword === undefined || /[\r\n]/.test(sudoPassword))
    throw new Error("a sudo password must be given, on one line");
  return `${sudoPassword}\n${program}`;
}

/** How a script is run on a host, decided by the spec: as root, with passwordless sudo, or with a sudo password. */
export function privilegeOf(host: { user: string; sudoPassword?: unknown }): Privilege {
  if (host.user === "root") return "root";
  return host.sudoPassword !== undefined ? "sudo-password" : "sudo";
}
