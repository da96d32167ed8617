import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { MAX_STACK_FILE_BYTES, StackFileError, parseStackText, readStackConfig } from "./stackFile";

const parseText = (text: string) => parseStackText(Buffer.from(text));
const HK = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOqlqm4Je6lr3zF0YNA4KdlFhrcK/y7VBF873abPbSQs";

describe("parseStackText", () => {
  it("reads the testbed:* settings, with encrypted values as a placeholder", () => {
    expect(
      parseText(
        "config:\n  aws:region: x\n  testbed:hosts:\n    pi:\n      address: 198.18.0.11\n      sudoPassword:\n        secure: v1:abc\n",
      ),
    ).toEqual({ hosts: { pi: { address: "198.18.0.11", sudoPassword: "[encrypted]" } } });
  });

  it.each([
    ["an empty file", "", "holds nothing where a mapping with `config:` belongs"],
    ["a top-level list", "- config\n- hosts\n", "holds a list where a mapping with `config:` belongs"],
    ["config: null", "config:\n", "has nothing under `config:`, where the settings belong"],
    ["config as a list", "config:\n  - testbed:hosts\n", "has a list under `config:`, where the settings belong"],
  ])("says what a stack file looks like for %s", (_what, text, message) => {
    expect(() => parseText(text)).toThrow(StackFileError);
    expect(() => parseText(text)).toThrow(message);
    expect(() => parseText(text)).toThrow("config:\n      testbed:hosts:\n        nuc:");
  });

  it("refuses bytes that are not UTF-8, naming the line", () => {
    const bytes = Buffer.concat([
      Buffer.from("config:\n  testbed:hosts:\n    pi:\n      user: mlsys"),
      Buffer.from([0xff, 0x0a]),
    ]);
    expect(() => parseStackText(bytes)).toThrow("line 4 holds bytes that are not UTF-8; save the file as UTF-8");
  });

  it.each([
    ["at the top of config", "config:\n  testbed:hosts: {}\n  testbed:hosts: {}\n", 3, "testbed:hosts"],
    ["in a host", "config:\n  testbed:hosts:\n    pi:\n      user: a\n      user: b\n", 5, "user"],
    ["in a flow mapping", 'config:\n  testbed:zfs: { profile: demo, "profile": none }\n', 2, "profile"],
    [
      "among labels",
      "config:\n  testbed:hosts:\n    pi:\n      labels:\n        a: x\n        b: y\n        a: z\n",
      7,
      "a",
    ],
  ])("refuses a duplicate key %s", (_what, text, line, key) => {
    expect(() => parseText(text)).toThrow(
      `line ${line}: the key ${JSON.stringify(key)} appears twice in one mapping; YAML keeps only one of them`,
    );
  });

  it("reports a YAML syntax error by position, without quoting the line (it may hold a secret)", () => {
    const secret = "hunter2-in-a-broken-line";
    const text = `config:\n  testbed:hosts:\n    pi:\n      sudoPassword: "${secret}\n      user: a: b\n`;
    let message = "";
    try {
      parseText(text);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/^is not valid YAML at line \d+, column \d+: /);
    expect(message).not.toContain(secret);
  });
});

describe("the stack file size limit", () => {
  /** A file of `bytes` bytes, as many label keys as fit: the worst case for the duplicate-key check. */
  function labelsFile(bytes: number): string {
    const lines = ["config:", "  testbed:hosts:", "    nuc:", "      address: 198.18.0.10", `      hostKey: ${HK}`];
    lines.push("      labels:");
    let size = lines.join("\n").length + 1;
    for (let i = 0; ; i++) {
      const line = `        k${i}: v`;
      if (size + line.length + 1 > bytes) break;
      lines.push(line);
      size += line.length + 1;
    }
    return `${lines.join("\n")}\n`.padEnd(bytes, "#");
  }

  it("refuses a file above the limit before parsing it", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "testbed-stackfile-"));
    try {
      const file = path.join(dir, "Pulumi.big.yaml");
      fs.writeFileSync(file, labelsFile(MAX_STACK_FILE_BYTES + 1));
      expect(() => readStackConfig(file)).toThrow(
        `is ${MAX_STACK_FILE_BYTES + 1} bytes, above the ${MAX_STACK_FILE_BYTES}-byte limit for a stack file`,
      );
      expect(() => parseStackText(fs.readFileSync(file))).toThrow("above the");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("reads a file at the limit, every one of its keys, and still finds a duplicate among them", () => {
    const text = labelsFile(MAX_STACK_FILE_BYTES);
    expect(Buffer.byteLength(text)).toBe(MAX_STACK_FILE_BYTES);
    const keys = (text.match(/^ {8}k\d+:/gm) ?? []).length;
    expect(keys).toBeGreaterThan(50_000);
    const raw = parseText(text) as { hosts: { nuc: { labels: Record<string, string> } } };
    expect(Object.keys(raw.hosts.nuc.labels)).toHaveLength(keys);
    const dup = text.replace(/^ {8}k1: v$/m, "        k0: v");
    expect(() => parseText(dup)).toThrow('the key "k0" appears twice in one mapping');
  });
});
