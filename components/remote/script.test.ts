import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { parseResult, readShellFile, runCommand, shq, stdinFor, stepProgram, valueLine } from "./script";

function run(script: string, action = "create"): string {
  return execFileSync("bash", ["-s", "--", action], { input: script, encoding: "utf8" });
}

describe("stepProgram", () => {
  const script = stepProgram("demo/step", {
    body: `step_create() {\n${'changed "made it"'}\n}\nstep_delete() {\n${'changed "undid it"'}\n}`,
  });

  it("starts with set -euo pipefail and names the step", () => {
    expect(script.split("\n").slice(0, 2)).toEqual(["set -euo pipefail", "# testbed step: demo/step"]);
  });

  it("runs the body the action names", () => {
    expect(run(script, "create")).toBe("TESTBED changed made it\n");
    expect(run(script, "delete")).toBe("TESTBED changed undid it\n");
  });

  it("has a harmless delete when the step has nothing to undo", () => {
    expect(run(stepProgram("x", { body: `step_create() {\n${"unchanged"}\n}` }), "delete")).toBe(
      "TESTBED unchanged nothing to undo\n",
    );
  });

  it("rejects an unknown action", () => {
    expect(() => execFileSync("bash", ["-s", "--", "destroy"], { input: script, stdio: "pipe" })).toThrow();
  });

  it("keeps multi-line quoted strings byte for byte", () => {
    const s = stepProgram("x", { body: `step_create() {\n${"text='a:\n  b: c'\nchanged \"$text\""}\n}` });
    expect(run(s)).toBe("TESTBED changed a:\n  b: c\n");
  });

  it("keeps commands that read stdin from eating the script", () => {
    const s = stepProgram("x", { body: `step_create() {\n${'rest="$(cat)"; changed "rest=[$rest]"'}\n}` });
    expect(run(s)).toBe("TESTBED changed rest=[]\n");
  });
});

describe("parseResult", () => {
  it("reads the result and output lines", () => {
    expect(parseResult('noise\nTESTBED output {"a":1}\nTESTBED unchanged all good\n')).toEqual({
      changed: false,
      detail: "all good",
      output: { a: 1 },
    });
  });
  it("fails when a step printed no result", () => {
    expect(() => parseResult("hello\n")).toThrow(/printed no "TESTBED changed\|unchanged" line/);
  });
});

describe("runCommand and stdinFor", () => {
  it.each([
    ["root", "create", "bash -s -- create"],
    ["sudo", "delete", "sudo -n bash -s -- delete"],
  ] as const)("%s %s -> %s", (privilege, action, expected) => {
    expect(runCommand(privilege, action)).toBe(expected);
  });
  it.each(["create", "delete"] as const)(
    "with a sudo password (%s), the login shell reads it and hands it to sudo through askpass, never to root's bash",
    (action) => {
      const line = runCommand("sudo-password", action);
      expect(line).toContain("IFS= read -r p");
      expect(line).toMatch(new RegExp(`sudo -k -A -p '' env -u TESTBED_SUDO_PASSWORD bash -s -- ${action}$`));
      expect(line).not.toContain("-S");
      // POSIX sh: it runs in the login user's shell, which may be dash.
      expect(execFileSync("sh", ["-n", "-c", line], { encoding: "utf8" })).toBe("");
    },
  );
  it("puts the sudo password on stdin's first line only when sudo asks for one", () => {
    expect(stdinFor("sudo-password", "SCRIPT", "pw")).toBe("pw\nSCRIPT");
    expect(stdinFor("sudo", "SCRIPT", "pw")).toBe("SCRIPT");
  });
  it("refuses a password that is not one line (its second line would reach root's bash)", () => {
    expect(() => stdinFor("sudo-password", "SCRIPT", "pw\nrm -rf /")).toThrow("on one line");
    expect(() => stdinFor("sudo-password", "SCRIPT")).toThrow("must be given");
  });
});

describe("shq", () => {
  it.each([
    ["plain/path-1.0", "plain/path-1.0"],
    ["two words", "'two words'"],
    ["it's", "'it'\\''s'"],
  ])("%s", (input, expected) => {
    expect(shq(input)).toBe(expected);
    expect(execFileSync("bash", ["-c", `printf %s ${expected}`], { encoding: "utf8" })).toBe(input);
  });
});

describe("stepProgram: values enter in the header only, JSON leaves through the prelude's helpers", () => {
  const hostile = [
    "$(touch MARKER)",
    "`touch MARKER`",
    "a'b\"c",
    "line1\nline2",
    " spaced  out ",
    "\\back\\slash",
    "tab\there",
  ];

  it("gives each value to the body as one readonly word, byte for byte, and runs none of it", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "testbed-values-"));
    const program = stepProgram("x", {
      values: { one: hostile.join("|"), list: hostile, n: 3, yes: true },
      body: 'step_create() {\n  output "$(json_object one "$one" list: "$(json_array "${list[@]}")" n: "$n" yes: "$yes")"\n  unchanged ok\n}',
    });
    const out = execFileSync("bash", ["-s", "--", "create"], { input: program, encoding: "utf8", cwd: dir });
    expect(fs.existsSync(path.join(dir, "MARKER"))).toBe(false);
    expect(parseResult(out).output).toEqual({ one: hostile.join("|"), list: hostile, n: 3, yes: true });
  });

  it("refuses a value name that is not a plain shell identifier, and a non-finite number", () => {
    expect(() => valueLine("bad-name", "x")).toThrow(/lower_snake_case/);
    expect(() => valueLine("n", Infinity)).toThrow(/not a finite number/);
  });

  it("makes values readonly: a body cannot reassign one", () => {
    const program = stepProgram("x", { values: { v: "a" }, body: 'step_create() {\n  v=b\n  unchanged "$v"\n}' });
    expect(() => execFileSync("bash", ["-s"], { input: program, stdio: "pipe" })).toThrow();
  });

  it("reads a step's bash from its .sh file, shebang dropped", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "testbed-sh-"));
    fs.writeFileSync(path.join(dir, "s.sh"), "#!/usr/bin/env bash\nstep_create() { unchanged fine; }\n");
    expect(readShellFile(dir, "s.sh")).toBe("step_create() { unchanged fine; }");
  });
});
