import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { simAvailable } from "../sim/helpers";
import { loadState, overlayFiles, simDown, simUp } from "../../scripts/sim/hosts";
import {
  PULUMI_DIR,
  destroy,
  findPulumi,
  forgetSimStack,
  preview,
  simStackHasResources,
  stackOutputs,
  up,
} from "../../scripts/sim/pulumiEngine";

/**
 * The real Pulumi engine (CLI, Node.js language host, pulumi-resource-command with its own Go SSH client) on the
 * simulated testbed. Needs root and the sim's Debian packages, as the sim e2e does, and a Pulumi CLI: the
 * official one on PATH or the one scripts/setup-pulumi.sh builds. Without them these tests are skipped, by name.
 */
const found = findPulumi();
const cli = "cli" in found ? found.cli : undefined;
if (!cli) console.warn(`real-engine e2e skipped: ${"missing" in found ? found.missing : ""}`);

const REPO = path.resolve(__dirname, "../..");
const testbedCli = (...args: string[]) =>
  spawnSync("node", [path.join(REPO, "scripts/testbed.js"), ...args], { encoding: "utf8", timeout: 240_000 });

/** The steps the mock runtime plans for the sim stack: what `pulumi preview` must list. */
const planned = (): string[] =>
  (JSON.parse(testbedCli("plan", "--stack", "sim", "--json").stdout) as { name: string }[]).map((p) => p.name).sort();

/** Values that must never be printed: the SSH private key's lines, the pi's sudo password, the passphrase. */
function secrets(): string[] {
  const key = fs
    .readFileSync(path.join(REPO, ".sim/keys/id_ed25519"), "utf8")
    .split("\n")
    .filter((l) => l.length > 20 && !l.startsWith("-----"));
  const sudo = fs.readFileSync(path.join(REPO, ".sim/keys/pi-sudo-password"), "utf8").trim();
  const passphrase = fs.readFileSync(path.join(PULUMI_DIR, "passphrase"), "utf8").trim();
  expect(key.length).toBeGreaterThan(0);
  expect(sudo.length).toBeGreaterThan(0);
  return [...key, sudo, passphrase];
}

const machines = ["nuc", "pi", "jetson"];

describe.runIf(simAvailable() && cli !== undefined)("the real Pulumi engine on the simulated testbed", () => {
  let baseline: Record<string, string[]>;
  beforeAll(() => {
    simDown();
    forgetSimStack();
    simUp();
    baseline = Object.fromEntries(loadState().hosts.map((h) => [h.name, overlayFiles(h.name)]));
  }, 180_000);
  afterAll(async () => {
    if (simStackHasResources()) await destroy(cli!).catch(() => undefined);
    simDown();
    forgetSimStack();
  }, 600_000);

  it("pulumi preview lists every step of the plan, each a create, and prints no secret", async () => {
    const text = await preview(cli!, undefined, ["--diff", "--show-config"]);
    const json = await preview(cli!, undefined, ["--json"]);
    const steps = (JSON.parse(json.stdout) as { steps: { op: string; urn: string; newState?: { type: string } }[] })
      .steps;
    const commands = steps.filter((s) => s.newState?.type === "command:remote:Command");
    expect(commands.map((s) => s.urn.split("::").pop()!).sort()).toEqual(planned());
    expect(new Set(commands.map((s) => s.op))).toEqual(new Set(["create"]));
    for (const s of planned()) expect(text.stdout).toContain(s);
    const printed = [text.stdout, text.stderr, json.stdout, json.stderr].join("\n");
    for (const secret of secrets()) expect(printed.includes(secret)).toBe(false);
  }, 180_000);

  it("pulumi up provisions the sim testbed, a second up runs nothing, pulumi destroy leaves no file of ours", async () => {
    const first = await up(cli!);
    const outputs = await stackOutputs(cli!);
    expect(outputs.vmAddresses).toEqual({ "karmada-host": "198.19.0.20", "k3s-cp": "198.19.0.21" });
    expect(outputs.kubeconfigs).toBe("[secret]");
    expect(Object.values(outputs.diskGates as Record<string, string>).every((g) => /^(pass|warn):/.test(g))).toBe(true);
    expect(outputs.zfsRecords).toMatchObject({ nuc: { recorded: { atime: { value: "on", source: "default" } } } });
    // No step's inputs changed: Pulumi runs nothing (`--expect-no-changes` fails the run otherwise).
    await up(cli!, undefined, ["--expect-no-changes"]);
    const gone = await destroy(cli!);
    for (const secret of secrets())
      expect([first.stdout, first.stderr, gone.stdout, gone.stderr].join("\n").includes(secret)).toBe(false);
    expect(simStackHasResources()).toBe(false);
    expect(loadState().hosts.map((h) => h.name)).toEqual(machines);
    for (const h of machines) expect([h, overlayFiles(h).filter((f) => !baseline[h].includes(f))]).toEqual([h, []]);
  }, 1_200_000);
});
