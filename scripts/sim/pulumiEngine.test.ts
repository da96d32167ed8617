import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { REPO } from "./hosts";
import {
  type EngineEvent,
  EventLogReader,
  KUBERNETES_SETTINGS,
  failure,
  prepareWorkspace,
  stepSpans,
  versionAtLeast,
} from "./pulumiEngine";

describe("pulumiEngine", () => {
  it("compares CLI versions numerically, with or without the v", () => {
    expect(versionAtLeast("v3.248.0", "3.248.0")).toBe(true);
    expect(versionAtLeast("v3.274.1", "3.248.0")).toBe(true);
    expect(versionAtLeast("3.99.0", "3.248.0")).toBe(false);
    expect(versionAtLeast("v3.248.0-dev.0", "3.249.0")).toBe(false);
    expect(versionAtLeast("4.0.0", "3.248.0")).toBe(true);
  });

  it("generates the sim project outside the tracked files: stack init's salt stays in the copy, across refreshes", () => {
    const tracked = fs.readFileSync(path.join(REPO, "stacks/Pulumi.sim.yaml"), "utf8");
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "testbed-pulumi-ws-"));
    try {
      prepareWorkspace(root);
      const copy = path.join(root, "project/Pulumi.sim.yaml");
      // What `pulumi stack init --secrets-provider passphrase` does to the stack file it finds.
      fs.appendFileSync(copy, "encryptionsalt: v1:c2FsdA==:v1:abc:def\n");
      prepareWorkspace(root);
      const stack = parse(fs.readFileSync(copy, "utf8")) as Record<string, unknown>;
      expect(stack.encryptionsalt).toBe("v1:c2FsdA==:v1:abc:def");
      // The tracked settings, without those the real engine cannot provision here.
      const config = (parse(tracked) as { config: Record<string, unknown> }).config;
      expect(Object.keys(config)).toEqual(expect.arrayContaining(KUBERNETES_SETTINGS));
      expect(stack.config).toEqual(
        Object.fromEntries(Object.entries(config).filter(([k]) => !KUBERNETES_SETTINGS.includes(k))),
      );
      expect(fs.readFileSync(path.join(REPO, "stacks/Pulumi.sim.yaml"), "utf8")).toBe(tracked);
      // The project: no backend of its own (PULUMI_BACKEND_URL decides), stack files beside Pulumi.yaml.
      const project = parse(fs.readFileSync(path.join(root, "project/Pulumi.yaml"), "utf8")) as Record<string, unknown>;
      expect(project).toMatchObject({ name: "testbed", runtime: { name: "nodejs" } });
      expect(project.backend).toBeUndefined();
      expect(project.stackConfigDir).toBeUndefined();
      // Relative key paths of the stack resolve as in the repository.
      expect(fs.readlinkSync(path.join(root, "project/.sim"))).toBe(path.join(REPO, ".sim"));
      expect((fs.statSync(path.join(root, "passphrase")).mode & 0o777).toString(8)).toBe("600");
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it("refreshes a workspace whose .sim link dangles (a fresh clone has no .sim yet) instead of failing with EEXIST", () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "testbed-pulumi-ws-"));
    try {
      prepareWorkspace(root);
      const link = path.join(root, "project/.sim");
      fs.rmSync(link);
      fs.symlinkSync(path.join(root, "no-such-dir"), link);
      expect(fs.existsSync(link)).toBe(false); // what the old check asked, and then tried to create the link again
      expect(() => prepareWorkspace(root)).not.toThrow();
      expect(fs.readlinkSync(link)).toBe(path.join(root, "no-such-dir"));
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it("takes another stack file's settings when told, still without the Kubernetes ones", () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "testbed-pulumi-ws-"));
    try {
      const other = path.join(root, "Pulumi.other.yaml");
      fs.writeFileSync(
        other,
        "config:\n  testbed:zfs:\n    properties:\n      atime: 'off'\n  testbed:karmada:\n    cluster: mgmt\n",
      );
      prepareWorkspace(root, other);
      const stack = parse(fs.readFileSync(path.join(root, "project/Pulumi.sim.yaml"), "utf8")) as { config: unknown };
      expect(stack.config).toEqual({ "testbed:zfs": { properties: { atime: "off" } } });
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it("reads each step's operation and span from the engine's events, a replacement's three steps as one", () => {
    // The shapes of a real event log (pulumi v3.248.0 `up --event-log`), trimmed to the fields read.
    const urn = (name: string, type = "command:remote:Command") =>
      `urn:pulumi:sim::testbed::testbed:index:Testbed$testbed:remote:Host$${type}::${name}`;
    const step = (op: string, name: string, type = "command:remote:Command") => ({
      metadata: { op, urn: urn(name, type), type },
    });
    const events: EngineEvent[] = [
      { sequence: 2, timestamp: 1, resourcePreEvent: step("same", "nuc", "testbed:remote:Host") },
      { sequence: 3, timestamp: 1, resourcePreEvent: step("same", "nuc/reachable") },
      { sequence: 4, timestamp: 1, resOutputsEvent: step("same", "nuc/reachable") },
      { sequence: 5, timestamp: 1, resourcePreEvent: step("update", "nuc/zfs-tuning") },
      {
        sequence: 6,
        timestamp: 1,
        diagnosticEvent: { urn: urn("nuc/zfs-tuning"), message: "TESTBED changed\n", severity: "info" },
      },
      { sequence: 7, timestamp: 1, resourcePreEvent: step("create-replacement", "pi/k3s-agent") },
      { sequence: 8, timestamp: 1, resOpFailedEvent: step("update", "nuc/zfs-tuning") },
      { sequence: 9, timestamp: 1, resOutputsEvent: step("create-replacement", "pi/k3s-agent") },
      { sequence: 10, timestamp: 1, resourcePreEvent: step("replace", "pi/k3s-agent") },
      { sequence: 11, timestamp: 1, resOutputsEvent: step("replace", "pi/k3s-agent") },
      { sequence: 12, timestamp: 2, resourcePreEvent: step("delete-replaced", "pi/k3s-agent") },
      { sequence: 13, timestamp: 2, resOutputsEvent: step("delete-replaced", "pi/k3s-agent") },
    ];
    expect(stepSpans(events)).toEqual([
      { name: "nuc/reachable", op: "same", start: 3, end: 4, failed: false },
      { name: "nuc/zfs-tuning", op: "update", start: 5, end: 8, failed: true },
      { name: "pi/k3s-agent", op: "replace", start: 7, end: 13, failed: false },
    ]);
  });

  it("says why a run failed with the CLI's Diagnostics section, each step's error under its name", () => {
    // As pulumi v3.248.0 printed a destroy that met a changed host key (trimmed).
    const stdout = [
      " -  command:remote:Command jetson/k3s-agent deleting (0s) Dial 3/10 failed: retrying",
      " -  command:remote:Command jetson/k3s-agent **deleting failed** error: after 10 failed attempts: ssh: handshake failed: ssh: host key mismatch",
      "Diagnostics:",
      "  pulumi:pulumi:Stack (testbed-sim):",
      "    error: update failed",
      "  command:remote:Command (jetson/k3s-agent):",
      "    error: after 10 failed attempts: ssh: handshake failed: ssh: host key mismatch",
      "Outputs:",
      "    kubeconfigs: [secret]",
      "Resources:",
      "    - 4 deleted",
      "    2 errored",
    ].join("\n");
    expect(failure({ stdout, stderr: "" })).toBe(
      [
        "Diagnostics:",
        "  pulumi:pulumi:Stack (testbed-sim):",
        "    error: update failed",
        "  command:remote:Command (jetson/k3s-agent):",
        "    error: after 10 failed attempts: ssh: handshake failed: ssh: host key mismatch",
      ].join("\n"),
    );
    expect(failure({ stdout: "a\nb", stderr: "error: no stack" })).toBe("a\nb\nerror: no stack");
  });

  it("follows an event log as it is written: whole lines only, a character split between reads, debug events dropped", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "testbed-events-test-"));
    try {
      const file = path.join(dir, "events.jsonl");
      const seen: number[] = [];
      const log = new EventLogReader(file, (e) => seen.push(e.sequence));
      log.read(); // not written yet
      const info = JSON.stringify({
        sequence: 1,
        timestamp: 1,
        diagnosticEvent: { message: "p99 0.3 ms \u00b5", severity: "info" },
      });
      const debug = JSON.stringify({
        sequence: 2,
        timestamp: 1,
        diagnosticEvent: { message: "RegisterResource RPC finished: privateKey ...", severity: "debug" },
      });
      const bytes = Buffer.from(`${info}\n${debug}\n`, "utf8");
      const cut = bytes.indexOf(Buffer.from("\u00b5", "utf8")) + 1; // inside the two bytes of the micro sign
      fs.writeFileSync(file, bytes.subarray(0, cut));
      log.read();
      expect(seen).toEqual([]);
      fs.appendFileSync(file, bytes.subarray(cut));
      log.read();
      expect(seen).toEqual([1]);
      expect(log.events[0].diagnosticEvent?.message).toBe("p99 0.3 ms \u00b5");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
