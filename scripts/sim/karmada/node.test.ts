import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { localNode, nsenterNode } from "./node";

const root = fs.mkdtempSync(path.join(os.tmpdir(), "testbed-node-test-"));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

describe("localNode", () => {
  const node = localNode("n1", root);

  it("runs a command with its input and resolves its output", async () => {
    expect(await node.run(["tr", "a-z", "A-Z"], "karmada")).toBe("KARMADA");
  });

  it("rejects with the command's exit code and stderr", async () => {
    await expect(node.run(["sh", "-c", "echo nope >&2; exit 3"])).rejects.toThrow(/sh exited 3: nope/);
  });

  it("spawns a detached command with its output in a private log, and its own pid", async () => {
    const log = path.join(root, "logs/x.log");
    const pid = await node.spawn(["sh", "-c", 'echo "started $$"; exec sleep 30'], log);
    try {
      for (let i = 0; i < 50 && !fs.existsSync(log); i++) await new Promise((r) => setTimeout(r, 50));
      for (let i = 0; i < 50 && fs.readFileSync(log, "utf8") === ""; i++) await new Promise((r) => setTimeout(r, 50));
      // The shell that opened the log exec'd the command: the pid is the command's.
      expect(fs.readFileSync(log, "utf8")).toBe(`started ${pid}\n`);
      expect(fs.statSync(log).mode & 0o777).toBe(0o600);
      expect(fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")[0]).toBe("sleep");
    } finally {
      process.kill(pid, "SIGKILL");
    }
  });
});

// Entering this process's own namespaces needs CAP_SYS_ADMIN (root), nothing else.
describe.skipIf(process.getuid?.() !== 0)("nsenterNode", () => {
  it("runs and spawns through nsenter, the pid being the command's", async () => {
    const node = nsenterNode("self", "127.0.0.1", process.pid);
    expect(await node.run(["cat"], "through nsenter")).toBe("through nsenter");
    const pid = await node.spawn(["sleep", "30"], path.join(root, "nsenter.log"));
    try {
      for (let i = 0; i < 50 && !fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").startsWith("sleep"); i++) {
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")[0]).toBe("sleep");
    } finally {
      process.kill(pid, "SIGKILL");
    }
  });
});
