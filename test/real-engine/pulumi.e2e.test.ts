import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { simAvailable } from "../sim/helpers";
import { loadState, overlayFiles, pinCurrentHostKey, restartHost, simDown, simUp } from "../sim/hosts";
import { openSession } from "../../components/remote/session";
import { connectionOf, loadStackSpec } from "../../scripts/lib/hosts";
import {
  PULUMI_DIR,
  destroy,
  findPulumi,
  forgetSimStack,
  preview,
  runPulumi,
  selectSimStack,
  simStackHasResources,
  stackOutputs,
  up,
} from "../../scripts/lib/pulumiEngine";

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

/** The tuned properties of the nuc's dataset, read over SSH as `value source`. */
async function zfsProperties(): Promise<Record<string, string>> {
  const spec = loadStackSpec({ stack: "sim" });
  const session = await openSession(await connectionOf(spec, spec.hosts.nuc), { label: "nuc" });
  try {
    const r = await session.exec("sudo -n zfs get -H -o property,value,source atime,recordsize default");
    expect(r.code).toBe(0);
    return Object.fromEntries(
      r.stdout
        .trim()
        .split("\n")
        .map((l) => l.split("\t"))
        .map(([p, v, src]) => [p, `${v} ${src}`]),
    );
  } finally {
    await session.dispose();
  }
}

/** A step's URN, from the stack's state. */
async function urnOf(name: string): Promise<string> {
  await selectSimStack(cli!);
  const exported = await runPulumi(cli!, ["stack", "export", "--stack", "sim"]);
  const resources = (JSON.parse(exported.stdout) as { deployment: { resources: { urn: string }[] } }).deployment
    .resources;
  const urn = resources.map((r) => r.urn).find((u) => u.endsWith(`::${name}`));
  if (!urn) throw new Error(`no resource ${name} in the sim stack`);
  return urn;
}

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

  it("pulumi up provisions the sim testbed, and a second up runs nothing", async () => {
    const first = await up(cli!);
    const outputs = await stackOutputs(cli!);
    expect(outputs.vmAddresses).toEqual({ "karmada-host": "198.19.0.20", "k3s-cp": "198.19.0.21" });
    expect(outputs.kubeconfigs).toBe("[secret]");
    expect(Object.values(outputs.diskGates as Record<string, string>).every((g) => /^(pass|warn):/.test(g))).toBe(true);
    expect(outputs.zfsRecords).toMatchObject({ nuc: { recorded: { atime: { value: "on", source: "default" } } } });
    expect(await zfsProperties()).toEqual({ atime: "off local", recordsize: "8K local" });
    // No step's inputs changed: Pulumi runs nothing (`--expect-no-changes` fails the run otherwise).
    const again = await up(cli!, undefined, ["--expect-no-changes"]);
    for (const secret of secrets())
      expect([first.stdout, first.stderr, again.stdout, again.stderr].join("\n").includes(secret)).toBe(false);
  }, 600_000);

  it("a changed host key stops pulumi-command's own SSH client, naming the step; pinned again, a re-run converges", async () => {
    restartHost("jetson", { newHostKey: true });
    // A step that must run on the host (here forced by --replace) meets the new key.
    const error = await up(cli!, undefined, ["--replace", await urnOf("jetson/reachable")]).then(
      () => new Error("up succeeded"),
      (e: Error) => e,
    );
    console.log(`real engine, changed host key: ${error.message}`);
    expect(error.message).toMatch(/jetson\/reachable/);
    expect(error.message).toMatch(/ssh: handshake failed: ssh: host key mismatch/);
    // The operator pins the new key (after a legitimate reinstall): every jetson step's connection changed, so
    // each is updated (runs again and finds its work done), and then nothing is left to do.
    pinCurrentHostKey("jetson");
    await up(cli!);
    await up(cli!, undefined, ["--expect-no-changes"]);
  }, 600_000);

  it("pulumi destroy restores the ZFS properties, removes the VMs and leaves no file of ours", async () => {
    const gone = await destroy(cli!);
    for (const secret of secrets()) expect([gone.stdout, gone.stderr].join("\n").includes(secret)).toBe(false);
    expect(simStackHasResources()).toBe(false);
    expect(await zfsProperties()).toEqual({ atime: "on default", recordsize: "128K default" });
    expect(loadState().hosts.map((h) => h.name)).toEqual(machines);
    for (const h of machines) expect([h, overlayFiles(h).filter((f) => !baseline[h].includes(f))]).toEqual([h, []]);
  }, 600_000);
});
