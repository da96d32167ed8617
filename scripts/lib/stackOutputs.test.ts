import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { CliError } from "../cli";
import { type PulumiRun, pulumiStackOutputs, simStackOutputs, stringOutput } from "./stackOutputs";

const run =
  (r: Partial<ReturnType<PulumiRun>>, seen?: string[][]): PulumiRun =>
  (args) => {
    seen?.push(args);
    return { status: 0, stdout: "", stderr: "", ...r };
  };

describe("pulumiStackOutputs", () => {
  it("asks the Pulumi CLI for the outputs with their secrets, of the stack named", () => {
    const seen: string[][] = [];
    const out = pulumiStackOutputs("lab", run({ stdout: '{"karmadaKubeconfig":"apiVersion: v1"}' }, seen));
    expect(out).toEqual({ karmadaKubeconfig: "apiVersion: v1" });
    expect(seen).toEqual([["stack", "output", "--json", "--show-secrets", "--non-interactive", "--stack", "lab"]]);
  });
  it("no pulumi on PATH: a clear error, exit 2", () => {
    let err: CliError | undefined;
    try {
      pulumiStackOutputs(
        "lab",
        run({ status: null, error: Object.assign(new Error("spawn pulumi ENOENT"), { code: "ENOENT" }) }),
      );
    } catch (e) {
      err = e as CliError;
    }
    expect(err).toBeInstanceOf(CliError);
    expect(err?.exitCode).toBe(2);
    expect(err?.message).toMatch(
      /^stack lab: its outputs come from the Pulumi CLI, and there is no `pulumi` on PATH: install it/,
    );
  });
  it("pulumi's own failure is passed on (its last line), output that is not JSON is named", () => {
    expect(() =>
      pulumiStackOutputs("lab", run({ status: 255, stderr: "warning: x\nerror: no stack named 'lab' found\n" })),
    ).toThrow("stack lab: pulumi stack output failed: error: no stack named 'lab' found");
    expect(() => pulumiStackOutputs("lab", run({ stdout: "[1]" }))).toThrow(
      "stack lab: the stack outputs are not a JSON object",
    );
  });
});

/** The sim was provisioned by the mock engine: the real engine's state holds nothing. */
const noRealEngine = () => ({ simStackHasResources: () => false });

describe("simStackOutputs", () => {
  it("reads what sim up saved, or says to run it", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "testbed-outputs-"));
    const file = path.join(dir, "outputs.json");
    await expect(simStackOutputs(file, noRealEngine)).rejects.toThrow(
      `stack sim: no outputs saved at ${file}: provision it first (sudo npx testbed sim up)`,
    );
    fs.writeFileSync(file, '{"karmadaKubeconfig":"k"}', { mode: 0o600 });
    expect(await simStackOutputs(file, noRealEngine)).toEqual({ karmadaKubeconfig: "k" });
    fs.rmSync(dir, { recursive: true });
  });
});

describe("stringOutput", () => {
  it("names a missing or masked output, never its value", () => {
    expect(stringOutput({ karmadaKubeconfig: "text" }, "karmadaKubeconfig", "lab")).toBe("text");
    expect(() => stringOutput({ a: 1, b: 2 }, "karmadaKubeconfig", "lab")).toThrow(
      "stack lab has no output karmadaKubeconfig (outputs: a, b): is Karmada in its spec, and has `pulumi up` run since?",
    );
    expect(() => stringOutput({ karmadaKubeconfig: "[secret]" }, "karmadaKubeconfig", "lab")).toThrow(
      "stack lab: output karmadaKubeconfig is masked ([secret]): the outputs were read without secrets",
    );
  });
});
