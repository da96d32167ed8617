import { beforeAll, describe, expect, it } from "vitest";
import { isSecret, setupMocks, unwrap, type MockedResource } from "../../test/harness/mocks";
import { pinPrograms } from "../../test/harness/programs";
import type { HostSpec } from "../spec";
import { RemoteHost, connectionFor, preflightScript, privilegeOf } from "./host";
import { stepProgram, parseResult, runCommand, shq } from "./script";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { execFileSync } from "node:child_process";

const KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nnot-a-real-key\n-----END OPENSSH PRIVATE KEY-----\n";
const base: HostSpec = {
  name: "nuc",
  kind: "machine",
  address: "198.18.0.10",
  port: 22,
  user: "testbed",
  privateKey: KEY,
  hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOqlqm4Je6lr3zF0YNA4KdlFhrcK/y7VBF873abPbSQs",
  arch: "amd64",
  board: "generic",
  labels: {},
};

let created: MockedResource[];
beforeAll(() => {
  created = setupMocks((r) =>
    r.type === "command:remote:Command" ? { stdout: "TESTBED unchanged ok\n", stderr: "" } : {},
  );
});

describe("connectionFor", () => {
  it("pins the host key, keeps the private key secret and bounds dial retries", async () => {
    const conn = connectionFor(base);
    expect(await isSecret(conn)).toBe(true);
    expect(await unwrap(conn)).toEqual({
      host: "198.18.0.10",
      port: 22,
      user: "testbed",
      privateKey: KEY,
      hostKey: base.hostKey,
      dialErrorLimit: 10,
      perDialTimeout: 15,
    });
  });

  it("reaches a host through its jump host", async () => {
    const jump = await unwrap(connectionFor(base));
    const vm: HostSpec = { ...base, name: "k3s-cp", kind: "vm", address: undefined, jump: "nuc", user: "ubuntu" };
    const conn = await unwrap(connectionFor(vm, { address: "198.19.0.21", hostKey: "ssh-ed25519 AAAAvm", jump }));
    expect(conn).toMatchObject({ host: "198.19.0.21", user: "ubuntu", hostKey: "ssh-ed25519 AAAAvm", proxy: jump });
  });

  it("refuses a host without an address", () => {
    expect(() => connectionFor({ ...base, address: undefined })).toThrow("host nuc: no address");
  });
});

describe("privilegeOf", () => {
  it.each([
    [{ user: "root" }, "root"],
    [{ user: "testbed" }, "sudo"],
    [{ user: "testbed", sudoPassword: "pw" }, "sudo-password"],
  ] as const)("%j -> %s", (host, expected) => {
    expect(privilegeOf(host)).toBe(expected);
  });
});

describe("RemoteHost", () => {
  it("makes a reachable step first and runs later steps after it", async () => {
    const host = new RemoteHost("pi", { host: { ...base, name: "pi", sudoPassword: "s3cret" } });
    const step = host.step("hello", { body: `step_create() {\n${'changed "hi"'}\n}` });
    await unwrap(step.stdout);
    const names = created.filter((r) => r.name.startsWith("pi/")).map((r) => r.name);
    expect(names).toEqual(["pi/reachable", "pi/hello"]);
    const hello = created.find((r) => r.name === "pi/hello")!;
    // The sudo password travels on stdin (secret), never in the command line.
    expect(hello.inputs.create).toBe(runCommand("sudo-password", "create"));
    expect(hello.inputs.delete).toBe(runCommand("sudo-password", "delete"));
    expect(JSON.stringify(hello.inputs.create)).not.toContain("s3cret");
    expect(await isSecret(step.stdin as never)).toBe(true);
    expect(await unwrap(step.stdin as never)).toBe(
      `s3cret\n${stepProgram("pi/hello", { body: `step_create() {\n${'changed "hi"'}\n}` })}`,
    );
  });

  it("never logs the stdout of steps that print secrets", async () => {
    // additionalSecretOutputs is applied by the engine, not the mock monitor: consumers also wrap such
    // stdout in pulumi.secret, and their own tests assert isSecret on what they export.
    const host = new RemoteHost("jetson", { host: { ...base, name: "jetson" } });
    await unwrap(
      host.step("token", { body: `step_create() {\n${"output x; unchanged"}\n}` }, { secretOutput: true }).stdout,
    );
    const rec = created.find((r) => r.name === "jetson/token")!;
    expect(rec.inputs.logging).toBe("none");
    expect(created.find((r) => r.name === "jetson/reachable")!.inputs.logging).toBe("stdoutAndStderr");
  });
});

describe("preflightScript", () => {
  const run = (script: string) => {
    try {
      return {
        code: 0,
        out: execFileSync("bash", ["-s", "--", "create"], { input: script, encoding: "utf8", stdio: "pipe" }),
      };
    } catch (err) {
      const e = err as { status: number; stderr: Buffer };
      return { code: e.status, out: String(e.stderr) };
    }
  };
  const here = execFileSync("uname", ["-m"], { encoding: "utf8" }).trim();
  const unameBin = execFileSync("sh", ["-c", "command -v uname"], { encoding: "utf8" }).trim();
  const myArch = here === "x86_64" ? "amd64" : "arm64";
  const otherArch = myArch === "amd64" ? "arm64" : "amd64";

  it("reports the host's facts when it matches the spec", () => {
    const r = run(stepProgram("t/reachable", preflightScript({ name: "t", arch: myArch, user: "root" })));
    expect(r.code).toBe(0);
    expect(r.out).toMatch(
      new RegExp(
        `^TESTBED output \\{"arch":"${here}","os":"[^"]+","kernel":"[^"]+"\\}\\nTESTBED unchanged reachable as root, ${here}`,
      ),
    );
  });

  it("prints its facts as JSON whatever they hold (a quote or a backslash in a kernel release)", () => {
    const bin = fs.mkdtempSync(path.join(os.tmpdir(), "testbed-uname-"));
    const kernel = '6.1.0-"rt"\\x';
    fs.writeFileSync(
      path.join(bin, "uname"),
      `#!/bin/sh\nif [ "$1" = -r ]; then printf '%s\\n' ${shq(kernel)}; else exec ${shq(unameBin)} "$@"; fi\n`,
      { mode: 0o755 },
    );
    try {
      const program = stepProgram("t/reachable", preflightScript({ name: "t", arch: myArch, user: "root" }));
      const out = execFileSync("bash", ["-s", "--", "create"], {
        input: program,
        encoding: "utf8",
        env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
      });
      expect(parseResult(out).output).toMatchObject({ arch: here, kernel });
    } finally {
      fs.rmSync(bin, { recursive: true, force: true });
    }
  });

  it("names the host and the setting when the architecture differs", () => {
    const r = run(stepProgram("t/reachable", preflightScript({ name: "t", arch: otherArch, user: "root" })));
    expect(r.code).toBe(1);
    expect(r.out).toContain(`host t: uname -m says ${here}, but hosts.t.arch is ${otherArch}`);
  });
});

describe("preflightScript renders one program per privilege", () => {
  // The hosts of the sim and demo stacks: the NUC logs in as root, the boards with passwordless sudo or a password.
  const programs = {
    "preflight-root": stepProgram("nuc/reachable", preflightScript({ name: "nuc", arch: "amd64", user: "root" })),
    "preflight-sudo": stepProgram("pi/reachable", preflightScript({ name: "pi", arch: "arm64", user: "testbed" })),
    "preflight-sudo-password": stepProgram(
      "jetson/reachable",
      preflightScript({ name: "jetson", arch: "arm64", user: "testbed", sudoPassword: "not-in-the-program" }),
    ),
  };
  pinPrograms(programs);

  it("never puts the sudo password in the program (it travels on stdin's first line only)", () => {
    expect(programs["preflight-sudo-password"]).not.toContain("not-in-the-program");
  });
});
