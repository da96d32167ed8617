import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { filledDemoText } from "../../test/harness/demoStack";

const root = path.resolve(__dirname, "../..");
const cli = (...args: string[]) =>
  spawnSync("node", [path.join(root, "scripts/testbed.js"), ...args], { encoding: "utf8", cwd: root, timeout: 60_000 });

interface Row {
  name: string;
  type: string;
  host: string;
  dependsOn: string[];
  secretInputs: string[];
}

/** Asserts each step comes after everything it depends on. */
function expectDependencyOrder(rows: Row[]): void {
  const seen = new Set<string>();
  for (const r of rows) {
    for (const d of r.dependsOn) expect(seen.has(d), `${r.name} is listed before its dependency ${d}`).toBe(true);
    seen.add(r.name);
  }
}

/** The demo stack with its vAccel images filled in (it ships placeholders), as a stack file; its path. */
function filledDemoFile(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "testbed-plan-"));
  fs.writeFileSync(path.join(dir, "Pulumi.demo.yaml"), filledDemoText());
  return path.join(dir, "Pulumi.demo.yaml");
}

describe("testbed plan --json on the demo stack, its images filled in", () => {
  let rows: Row[];
  beforeAll(() => {
    const r = cli("plan", "--file", filledDemoFile(), "--json");
    expect(r.status).toBe(0);
    rows = JSON.parse(r.stdout) as Row[];
  });

  it("refuses the demo stack as shipped, naming its image placeholders, and plans nothing", () => {
    const r = cli("plan", "--stack", "demo", "--json");
    expect(r.status).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain('vaccel.agentImage: "<registry>/vaccel-rpc-agent:<version>" is a placeholder');
    expect(r.stderr).toContain('vaccel.appImage: "<registry>/yolo-vaccel:<version>" is a placeholder');
    expect(r.stderr).toContain("2 error(s); nothing planned");
  });

  it("lists a reachable step per host, machines and VMs", () => {
    expect(
      rows
        .filter((r) => r.name.endsWith("/reachable"))
        .map((r) => r.host)
        .sort(),
    ).toEqual(["jetson", "k3s-cp", "karmada-host", "nuc", "pi"]);
  });

  it("lists steps in dependency order, every later step on a host after its reachable step", () => {
    expectDependencyOrder(rows);
    for (const r of rows.filter((x) => x.type === "command:remote:Command" && !x.name.endsWith("/reachable")))
      expect(r.dependsOn).toContain(`${r.host}/reachable`);
  });

  it("measures, tunes, measures again; gates etcd on the tuned disk; installs only after the gates", () => {
    const byName = new Map(rows.map((r) => [r.name, r]));
    expect(byName.get("nuc/zfs-tuning")?.dependsOn).toEqual(["nuc/fsync-before", "nuc/reachable"]);
    expect(byName.get("k3s-cp/reachable")?.dependsOn).toEqual(["nuc/vm-k3s-cp"]);
    // Before, tuning and after run on a quiet disk; the VMs (whose launch writes an image onto the pool) wait for them.
    expect(byName.get("nuc/fsync-after")?.dependsOn).toEqual(["nuc/reachable", "nuc/zfs-tuning"]);
    for (const vm of ["nuc/vm-k3s-cp", "nuc/vm-karmada-host"])
      expect(byName.get(vm)?.dependsOn).toEqual(["nuc/fsync-after", "nuc/reachable"]);
    // Measurements on the NUC's disk (its pool, its VMs' disks) run one at a time.
    const measurements = [
      "nuc/fsync-before",
      "nuc/zfs-tuning",
      "nuc/fsync-after",
      "k3s-cp/disk-gate-k3s",
      "karmada-host/disk-gate-k3s",
    ];
    for (let i = 1; i < measurements.length; i++)
      expect(byName.get(measurements[i])?.dependsOn).toContain(measurements[i - 1]);
    // One measurement of karmada-host's disk gates both of its etcd paths (k3s' and Karmada's).
    expect(byName.get("karmada-host/k3s-server")?.dependsOn).toContain("karmada-host/disk-gate-k3s");
    expect(rows.filter((r) => r.name.startsWith("karmada-host/disk-gate"))).toHaveLength(1);
    // Nothing else writes to that disk while it is measured: the gates wait for every VM launch on it, and a k3s
    // server on it waits for every gate on it, another host's included.
    for (const gate of measurements.slice(3))
      expect(byName.get(gate)?.dependsOn).toEqual(expect.arrayContaining(["nuc/vm-k3s-cp", "nuc/vm-karmada-host"]));
    expect(byName.get("k3s-cp/k3s-server")?.dependsOn).toContain("karmada-host/disk-gate-k3s");
    // The boards have disks of their own: their agents wait for no measurement.
    for (const agent of ["pi/k3s-agent", "jetson/k3s-agent"])
      expect(byName.get(agent)?.dependsOn.filter((d) => /fsync|disk-gate/.test(d))).toEqual([]);
  });

  it("prints only the documented fields", () => {
    for (const r of rows) expect(Object.keys(r).sort()).toEqual(["dependsOn", "host", "name", "secretInputs", "type"]);
  });
});

describe("testbed plan never shows a secret", () => {
  let dir: string;
  let key: string;
  const sudoPassword = "hunter2-sudo-password";
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "testbed-plan-"));
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "", "-f", path.join(dir, "id")]);
    key = fs.readFileSync(path.join(dir, "id"), "utf8");
    const demo = parse(filledDemoText());
    for (const h of Object.values(demo.config["testbed:hosts"]) as Record<string, unknown>[]) {
      delete h.privateKeyFile;
      h.privateKey = key;
    }
    demo.config["testbed:hosts"].pi.sudoPassword = sudoPassword;
    fs.writeFileSync(path.join(dir, "Pulumi.inline.yaml"), stringify(demo));
  });

  it.each([["--json"], []])("with %j", (...flags) => {
    const r = cli("plan", "--file", path.join(dir, "Pulumi.inline.yaml"), ...flags);
    expect(r.status).toBe(0);
    const everything = r.stdout + r.stderr;
    for (const line of key.trim().split("\n").slice(1, -1)) expect(everything).not.toContain(line);
    expect(everything).not.toContain(sudoPassword);
  });

  it("marks every step whose inputs carry a secret, also where the value is unknown until apply", () => {
    const rows = JSON.parse(cli("plan", "--file", path.join(dir, "Pulumi.inline.yaml"), "--json").stdout) as Row[];
    // The agents' stdin carries the join token, read from the server during the run.
    for (const agent of ["pi/k3s-agent", "jetson/k3s-agent"])
      expect(rows.find((r) => r.name === agent)?.secretInputs).toEqual(["connection", "stdin"]);
    // A VM's connection holds the private key, though its address is known only after launch.
    for (const r of rows.filter((x) => x.type === "command:remote:Command"))
      expect(r.secretInputs, r.name).toContain("connection");
  });

  it("marks the sudo password's steps as having secret stdin", () => {
    const rows = JSON.parse(cli("plan", "--file", path.join(dir, "Pulumi.inline.yaml"), "--json").stdout) as Row[];
    expect(rows.find((r) => r.name === "pi/reachable")?.secretInputs).toEqual(["connection", "stdin"]);
    expect(rows.find((r) => r.name === "jetson/reachable")?.secretInputs).toEqual(["connection"]);
  });
});

describe("testbed validate", () => {
  it("exits 0 with a one-line summary for the demo stack, its images filled in", () => {
    const r = cli("validate", "--file", filledDemoFile());
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(
      "valid: 3 machine(s), 2 VM(s), clusters: mgmt (1 node), edge (3 nodes), zfs default: sync=disabled,compression=lz4,atime=off,recordsize=8k, karmada on mgmt with 1 member(s), disk gate 10/100 ms\n",
    );
  });

  it("exits 2 and names every bad field", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "testbed-validate-"));
    const demo = parse(filledDemoText());
    demo.config["testbed:hosts"].pi.address = "300.1.1.1";
    demo.config["testbed:karmada"].members = ["edge", "cloud"];
    fs.writeFileSync(path.join(dir, "Pulumi.bad.yaml"), stringify(demo));
    const r = cli("validate", "--file", path.join(dir, "Pulumi.bad.yaml"));
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('hosts.pi.address: "300.1.1.1" is not an IPv4 address or a host name');
    expect(r.stderr).toContain('karmada.members.1: "cloud" is not a cluster of this spec (known: "mgmt", "edge")');
  });

  it.each([
    ["an empty file", "", "holds nothing where a mapping with `config:` belongs"],
    ["config: null", "config:\n", "has nothing under `config:`"],
    ["a top-level list", "- testbed:hosts\n", "holds a list where a mapping with `config:` belongs"],
    ["no testbed settings", "config:\n  aws:region: x\n", "no testbed settings found"],
  ])("exits 2 on %s, saying what a stack file looks like", (_what, text, message) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "testbed-validate-"));
    fs.writeFileSync(path.join(dir, "Pulumi.x.yaml"), text);
    const r = cli("validate", "--file", path.join(dir, "Pulumi.x.yaml"));
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(message);
    expect(r.stderr).toContain("testbed:hosts:\n        nuc:\n          address:");
    expect(r.stderr).not.toContain("is required");
  });

  it("exits 2 on the testbed:host typo with one error: the unknown key and the nearest known one", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "testbed-validate-"));
    const demo = parse(filledDemoText());
    demo.config["testbed:host"] = demo.config["testbed:hosts"];
    delete demo.config["testbed:hosts"];
    fs.writeFileSync(path.join(dir, "Pulumi.typo.yaml"), stringify(demo));
    const r = cli("validate", "--file", path.join(dir, "Pulumi.typo.yaml"));
    expect(r.status).toBe(2);
    expect(r.stderr.split("\n").slice(1)).toEqual([
      '  host: unknown setting "testbed:host"; did you mean "testbed:hosts"?',
      "",
    ]);
  });

  it("exits 2 for a stack that does not exist, naming the ones that do", () => {
    const r = cli("validate", "--stack", "nope");
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/no stack settings at .*Pulumi\.nope\.yaml \(stacks here: demo, sim\)/);
  });

  it("exits 2 on usage errors", () => {
    expect(cli("validate").status).toBe(2);
    expect(cli("validate", "--bogus").status).toBe(2);
  });
});
