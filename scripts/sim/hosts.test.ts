import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { saveState } from "./hosts";

describe("the sim's host list", () => {
  it("is never seen half-written by a reader that takes no lock (the Incus double's list during a launch)", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "testbed-hosts-"));
    const file = path.join(dir, "hosts.json");
    const big = (n: number) =>
      ({
        hosts: Array.from({ length: 200 }, (_, i) => ({ name: `h${n}-${i}`, address: "198.18.0.1", pid: i })),
      }) as unknown as Parameters<typeof saveState>[0];
    try {
      saveState(big(0), file);
      // A reader in another process, as the double's python is: parses the file in a loop until told to stop.
      const reader = spawn(
        process.execPath,
        [
          "-e",
          `const fs=require("fs");let bad=0,reads=0;const f=process.argv[1];` +
            `const t=setInterval(()=>{for(let i=0;i<200;i++){reads++;try{JSON.parse(fs.readFileSync(f,"utf8"))}catch{bad++}}},0);` +
            `process.stdin.on("data",()=>{clearInterval(t);console.log(JSON.stringify({bad,reads}));process.exit(0)})`,
          file,
        ],
        { stdio: ["pipe", "pipe", "inherit"] },
      );
      let out = "";
      reader.stdout.on("data", (d: Buffer) => (out += d.toString()));
      await new Promise((r) => setTimeout(r, 300));
      for (let n = 1; n <= 1500; n++) saveState(big(n), file);
      reader.stdin.write("stop\n");
      await new Promise((r) => reader.on("close", r));
      const { bad, reads } = JSON.parse(out) as { bad: number; reads: number };
      expect(reads).toBeGreaterThan(0);
      expect(bad).toBe(0);
      expect(fs.readdirSync(dir)).toEqual(["hosts.json"]); // no temporary file left behind
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
