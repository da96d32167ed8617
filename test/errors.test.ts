import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { describe, expect, it } from "vitest";
import { loadSpec, readStackConfig } from "../components/spec";
import { parseFioJson } from "../components/disk/fio";
import { DiskGateError, gate } from "../components/disk/gate";
import { runProgram } from "../scripts/lib/programRunner";
import { filledDemoText } from "./harness/demoStack";
import { unwrap } from "./harness/mocks";

// The real program (index.ts) under Pulumi's mock runtime: what reaches Pulumi's error handler (cmd/run/run.ts),
// which prints a RunError's message alone and a ResourceError under its resource (CONTRIBUTING.md, "Errors").
const root = path.resolve(__dirname, "..");
// The demo stack as an operator fills it in (it ships placeholders for the vAccel images).
const demoFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "testbed-errors-")), "Pulumi.demo.yaml");
fs.writeFileSync(demoFile, filledDemoText());
const demo = () => readStackConfig(demoFile);
// fio's output for a disk whose every fdatasync takes 150 ms (p99 ~152 ms, above the 100 ms limit).
const slowFio = fs.readFileSync(path.join(root, "components/disk/fixtures/fio-3.33-jsonplus-certain-150ms.txt"));

async function failureOf(run: Promise<unknown>): Promise<unknown> {
  try {
    await run;
  } catch (err) {
    return err;
  }
  throw new Error("the program did not fail");
}

describe("errors are shown where Pulumi shows them", () => {
  // First: after a failed run, runProgram keeps its rejection handler (one run a process), which a bad spec
  // (thrown before any resource) does not need.
  it("a bad spec is a RunError (no stack trace) naming every problem", async () => {
    const config = demo();
    const hosts = config.hosts as Record<string, Record<string, unknown>>;
    hosts.pi.address = "300.1.1.1";
    const err = await failureOf(runProgram({ stack: "demo", config, projectDir: root, preview: true }));
    expect(pulumi.RunError.isInstance(err)).toBe(true);
    expect(pulumi.ResourceError.isInstance(err)).toBe(false);
    expect((err as Error).message).toMatch(
      /^the testbed spec has 1 error\(s\):\n {2}hosts\.pi\.address: "300\.1\.1\.1"/,
    );
  });

  it("a failed disk gate is a ResourceError tied to its measurement step, message unchanged, no stack trace", async () => {
    const err = await failureOf(
      runProgram({
        stack: "demo",
        config: demo(),
        projectDir: root,
        preview: true,
        newResource: async (r) => ({
          state: r.name.endsWith("/disk-gate-k3s")
            ? {
                ...r.rawInputs,
                stdout: `TESTBED output {"fio":["${slowFio.toString("base64")}","${slowFio.toString("base64")}"]}\nTESTBED unchanged measured\n`,
              }
            : r.rawInputs,
        }),
      }),
    );
    expect(pulumi.ResourceError.isInstance(err)).toBe(true);
    const { message, resource, hideStack } = err as pulumi.ResourceError;
    expect(hideStack).toBe(true);
    const [, host, where] = /^disk gate: host (\S+), path (\S+):/.exec(message) ?? [];
    // The message is the gate's own, word for word.
    const spec = loadSpec(demo(), { baseDir: root, unreadableFiles: "warn" });
    const input = { host, path: where, result: parseFioJson(slowFio.toString()), thresholds: spec.diskGate };
    expect(() => gate({ ...input, accepted: false })).toThrow(new DiskGateError(message));
    expect(resource).toBeDefined();
    expect(await unwrap(resource!.urn)).toMatch(new RegExp(`[:$]command:remote:Command::${host}/disk-gate-k3s$`));
  });
});
