import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";

/** Whether shellcheck (Debian package shellcheck) is on this machine; the checks below are skipped, by name, if not. */
export const hasShellcheck = spawnSync("sh", ["-c", "command -v shellcheck"], { stdio: "ignore" }).status === 0;

/**
 * Pins rendered step programs (CONTRIBUTING.md, "Steps are scripts, and scripts are data"): each is compared with
 * `__snapshots__/<name>.sh` beside the calling test file (tracked, so `scripts/lint-shell.sh` shellchecks it too; a
 * the repository's `.shellcheckrc` says they run under bash), and each is run through shellcheck here, as bash reads it.
 */
export function pinPrograms(programs: Record<string, string>): void {
  describe("rendered programs", () => {
    it.each(Object.entries(programs))("%s matches __snapshots__/%s.sh", async (name, program) => {
      await expect(program).toMatchFileSnapshot(`__snapshots__/${name}.sh`);
    });
    it.skipIf(!hasShellcheck).each(Object.entries(programs))(
      "%s passes shellcheck (skipped when shellcheck is not installed)",
      (_name, program) => {
        expect(spawnSync("bash", ["-n"], { input: program, encoding: "utf8" }).stderr).toBe("");
        const r = spawnSync("shellcheck", ["--shell=bash", "--severity=style", "-"], {
          input: program,
          encoding: "utf8",
        });
        expect(r.stdout).toBe("");
        expect(r.status).toBe(0);
      },
    );
  });
}
