import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { REPO } from "./hosts";
import { prepareWorkspace, versionAtLeast } from "./pulumiEngine";

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
      expect(stack.config).toEqual((parse(tracked) as { config: unknown }).config);
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
});
