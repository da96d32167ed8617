import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { preflightScript } from "./host";
import { stepProgram, runCommand, stdinFor } from "./script";

// Real sudo, real users: each run happens in a private mount namespace whose /etc is an overlay, so the users and
// sudoers rules it adds are seen by nothing else on the machine (no fixed names, no shared state: no lock needed).
const canRun =
  process.getuid?.() === 0 &&
  ["sudo", "su", "unshare", "useradd", "chpasswd"].every(
    (t) => spawnSync("sh", ["-c", `command -v ${t}`]).status === 0,
  );

let dir: string;
let marker: string;
/** The password runs `touch <marker>` if any shell ever executes it. */
let password: string;

beforeAll(() => {
  if (!canRun) return;
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "testbed-sudo-"));
  fs.chmodSync(dir, 0o755);
  marker = path.join(dir, "PWNED");
  password = ` pw'"\\x $(touch ${marker}) \`touch ${marker}\` `;
});
afterAll(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** The users: one sudo asks for a password, one with NOPASSWD, one whose rule skips authentication without it. */
const SETUP = String.raw`set -euo pipefail
mount --make-rprivate /
mkdir -p "$DIR/upper" "$DIR/work"
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$DIR/upper,workdir=$DIR/work" /etc
for u in tbpw tbnp tbna; do useradd -M -d / -s /bin/bash "$u"; done
printf 'tbpw:%s\n' "$PASSWORD" | chpasswd
printf '%s\n' 'tbpw ALL=(ALL) ALL' 'tbnp ALL=(ALL) NOPASSWD:ALL' 'Defaults:tbna !authenticate' 'tbna ALL=(ALL) ALL' \
  > /etc/sudoers.d/testbed-test
chmod 440 /etc/sudoers.d/testbed-test
install -d -m 1777 "$DIR/tmp"
exec su -s /bin/sh "$RUNAS" -c "$CMD"`;

/** Runs a command line as the login user `user` (as sshd would, through the user's shell) with `stdin`. */
function asUser(user: string, command: string, stdin: string) {
  const r = spawnSync("unshare", ["-m", "bash", "-c", SETUP], {
    input: stdin,
    encoding: "utf8",
    timeout: 30_000,
    env: {
      PATH: process.env.PATH,
      DIR: path.join(dir, user),
      PASSWORD: password,
      RUNAS: user,
      CMD: command,
      TMPDIR: path.join(dir, user, "tmp"),
    },
  });
  const leftovers = fs.readdirSync(path.join(dir, user, "tmp"));
  fs.rmSync(path.join(dir, user), { recursive: true, force: true });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, leftovers };
}

// The step prints its user and its whole environment: the password must be in neither.
const probe = stepProgram("t/probe", {
  body: 'step_create() {\n  env\n  unchanged "as $(id -un) create"\n}\nstep_delete() {\n  unchanged "as $(id -un) delete"\n}',
});

describe.skipIf(!canRun)("a step run with a sudo password, on real sudo", () => {
  it.each([
    ["tbpw", "create"],
    ["tbpw", "delete"],
    ["tbnp", "create"],
    ["tbnp", "delete"],
    ["tbna", "create"],
  ] as const)("as %s (%s): runs as root; the password is never code, output or root's environment", (user, action) => {
    const r = asUser(user, runCommand("sudo-password", action), stdinFor("sudo-password", probe, password));
    // (stderr may hold root's .bashrc complaints: bash reads it when stdin is a socket, as under sshd and node.)
    expect(r.stderr).not.toMatch(/command not found|password|sudo:/i);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`TESTBED unchanged as root ${action}`);
    expect(r.stdout + r.stderr).not.toContain(password.trim());
    expect(r.stdout).not.toContain("TESTBED_SUDO_PASSWORD=");
    expect(fs.existsSync(marker)).toBe(false);
    expect(r.leftovers).toEqual([]);
  });

  it("fails cleanly on a wrong password, after one attempt, without running the script", () => {
    const started = Date.now();
    const r = asUser("tbpw", runCommand("sudo-password", "create"), stdinFor("sudo-password", probe, "wrong-pw"));
    expect(r.code).not.toBe(0);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("1 incorrect password attempt");
    expect(r.stderr).not.toContain("wrong-pw");
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(r.leftovers).toEqual([]);
  });

  it("fails with a message when stdin is empty", () => {
    const r = asUser("tbpw", runCommand("sudo-password", "create"), "");
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("no sudo password on stdin");
  });

  it.each([
    ["tbpw", 0, ""],
    ["tbnp", 1, "sudo does not ask tbnp for a password"],
    // No NOPASSWD in its rule: only asking sudo itself finds out.
    ["tbna", 1, "sudo does not ask tbna for a password"],
  ] as const)("the preflight for %s asks sudo whether it wants the password", (user, code, message) => {
    const script = stepProgram(
      "t/reachable",
      preflightScript({ name: "t", arch: hostArch(), user, sudoPassword: "x" }),
    );
    const r = asUser(user, runCommand("sudo-password", "create"), stdinFor("sudo-password", script, password));
    expect(r.code).toBe(code);
    expect(r.stderr).toContain(message);
    if (code === 0) expect(r.stdout).toContain("TESTBED unchanged reachable as root");
  });
});

function hostArch(): "amd64" | "arm64" {
  return os.arch() === "arm64" ? "arm64" : "amd64";
}
