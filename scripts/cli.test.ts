import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { describe, expect, it } from "vitest";

const root = path.resolve(__dirname, "..");

describe("the operator CLI", () => {
  it("registers every command without loading Pulumi's SDK (over a second of startup, needed only by plan and sim)", () => {
    const probe = `require("tsx/cjs");
require("./scripts/cli.ts").buildProgram();
const loaded = Object.keys(require.cache).filter((k) => k.includes("node_modules/@pulumi/"));
process.stdout.write(JSON.stringify(loaded));`;
    const r = spawnSync("node", ["-e", probe], { cwd: root, encoding: "utf8" });
    expect(r.stderr).toBe("");
    expect(JSON.parse(r.stdout)).toEqual([]);
  });
});
