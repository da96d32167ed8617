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
 * The command line that runs a bundled step (the bundle itself travels on stdin, never in the command line).
 * With a sudo password, stdin starts with the password line: `sudo -S` reads exactly one line, one byte at a time,
 * and `-k` makes it ask even if a credential is cached, so the script never receives the password as code.
 */
export function runCommand(privilege: Privilege, action: "create" | "delete"): string {
  switch (privilege) {
    case "root":
      return `bash -s -- ${action}`;
    case "sudo":
      return `sudo -n bash -s -- ${action}`;
    case "sudo-password":
      return `sudo -k -S -p '' bash -s -- ${action}`;
  }
}

/** What goes on stdin: the sudo password line (if any), then the bundle. */
export function stdinFor(privilege: Privilege, bundled: string, sudoPassword?: string): string {
  return privilege === "sudo-password" ? `${sudoPassword ?? ""}\n${bundled}` : bundled;
}

/** How a script is run on a host, decided by the spec: as root, with passwordless sudo, or with a sudo password. */
export function privilegeOf(host: { user: string; sudoPassword?: unknown }): Privilege {
  if (host.user === "root") return "root";
  return host.sudoPassword !== undefined ? "sudo-password" : "sudo";
}
