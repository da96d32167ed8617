import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { parse, stringify } from "yaml";
import { DEMO_STACK, filledDemoText } from "../../test/harness/demoStack";

// Random and truncated stack files through `testbed validate`, as a careless or hostile operator would write them.
// The bar (issue: "Security and bad input"): no stack trace, exit 0, 1 or 2 only, and no planted secret in any output.

const root = path.resolve(__dirname, "../..");

const PEM = [
  "-----BEGIN OPENSSH PRIVATE KEY-----",
  "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW",
  "QyNTUxOQAAACDqpapuCXupa98xdGDQOCnZRYa3Cv+u1QRfO92mz20ELAAAAJgAAAAAAAAA",
  "AAtzc2gtZWQyNTUxOQAAACDqpapuCXupa98xdGDQOCnZRYa3Cv+u1QRfO92mz20ELAAAAE",
  "-----END OPENSSH PRIVATE KEY-----",
].join("\n");
const SUDO_PASSWORD = "Planted-sudo-pw-7";
const PASTED_PASSWORD = "Pasted-into-file-pw";
const TOKEN =
  "K10c5a7f3e9b2d4a6c8e0f1a3b5c7d9e1f3a5b7c9d1e3f5a7b9c1d3e5f7a9b1c3::server:0f1e2d3c4b5a69788796a5b4c3d2e1f0";
/** What must never be printed, whole or its first 16 characters (a truncated file may hold only a prefix). */
const SECRETS = [SUDO_PASSWORD, PASTED_PASSWORD, TOKEN, ...PEM.split("\n").slice(1, -1)];

/** The demo stack as an operator fills it in: its vAccel images given. */
const filledDemo = (): Record<string, any> => parse(filledDemoText());

/** The demo stack with secrets planted where an operator might put them, right and wrong. */
function seedSpec(): Record<string, any> {
  const doc = filledDemo();
  const hosts = doc.config["testbed:hosts"];
  delete hosts.nuc.privateKeyFile;
  hosts.nuc.privateKey = PEM;
  hosts.pi.sudoPassword = SUDO_PASSWORD;
  hosts.jetson.sudoPasswordFile = PASTED_PASSWORD;
  hosts.jetson.labels.token = TOKEN;
  return doc;
}

/** A small seeded generator (mulberry32), so a failing case can be replayed from its seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Values a hostile edit puts in place of a setting: wrong types, lists, the secrets themselves (by content). */
const ODD_VALUES: unknown[] = [
  null,
  0,
  -1,
  1e308,
  true,
  "",
  " ",
  [],
  {},
  [PEM],
  { secure: "v1:abc" },
  PEM,
  TOKEN,
  `${PEM}\n${TOKEN}`,
  "$(touch /tmp/x)",
  "a\nb",
  "x".repeat(5000),
  "\u00ff\uFFFD",
  ["pi", "jetson", "pi"],
];

function mutate(text: string, next: () => number): Buffer {
  const pick = <T>(xs: T[]) => xs[Math.floor(next() * xs.length)];
  const lines = text.split("\n");
  switch (Math.floor(next() * 6)) {
    case 0: // truncated anywhere, as a copy cut short
      return Buffer.from(text).subarray(0, Math.floor(next() * text.length));
    case 1: {
      // bytes flipped, including ones that are not UTF-8 and YAML's own punctuation
      const b = Buffer.from(text);
      for (let i = 0, n = 1 + Math.floor(next() * 5); i < n; i++)
        b[Math.floor(next() * b.length)] = pick([
          0xff, 0xc3, 0x00, 0x3a, 0x2d, 0x0a, 0x20, 0x5b, 0x7b, 0x27, 0x22, 0x26, 0x2a,
        ]);
      return b;
    }
    case 2: // lines dropped
      return Buffer.from(lines.filter(() => next() > 0.15).join("\n"));
    case 3: {
      // a line repeated (duplicate keys) or re-indented
      const i = Math.floor(next() * lines.length);
      if (next() < 0.5) lines.splice(i, 0, lines[i]);
      else lines[i] = next() < 0.5 ? `  ${lines[i]}` : lines[i].replace(/^ {2}/, "");
      return Buffer.from(lines.join("\n"));
    }
    default: {
      // a setting replaced by an odd value, or a mapping written as a list, anywhere in the tree
      const doc = parse(text);
      for (let i = 0, n = 1 + Math.floor(next() * 3); i < n; i++) {
        let node: any = doc.config;
        for (;;) {
          const keys = Object.keys(node);
          if (keys.length === 0) break;
          const key = pick(keys);
          const child = node[key];
          if (typeof child === "object" && child !== null && next() < 0.7) {
            node = child;
            continue;
          }
          node[key] =
            next() < 0.3 && typeof child === "object" && child !== null ? Object.values(child) : pick(ODD_VALUES);
          break;
        }
      }
      return Buffer.from(stringify(doc));
    }
  }
}

let main: typeof import("../cli").main;

/** Runs `testbed validate` in this process (the same main() the binary runs), capturing what it prints. */
async function validateInProcess(file: string): Promise<{ code: number; out: string }> {
  let out = "";
  const capture = (chunk: unknown) => {
    out += String(chunk);
    return true;
  };
  const stdout = vi.spyOn(process.stdout, "write").mockImplementation(capture as never);
  const stderr = vi.spyOn(process.stderr, "write").mockImplementation(capture as never);
  const exit = vi.spyOn(process, "once").mockImplementation((() => process) as never);
  try {
    await main(["node", "testbed", "validate", "--file", file]);
  } finally {
    stdout.mockRestore();
    stderr.mockRestore();
    exit.mockRestore();
  }
  const code = Number(process.exitCode ?? 0);
  process.exitCode = 0;
  return { code, out };
}

function expectWithinTheBar(r: { code: number | null; out: string }, what: string): void {
  expect([0, 1, 2], `${what}: exit code`).toContain(r.code);
  expect(r.out, `${what}: stack trace`).not.toMatch(/\n\s+at .+:\d+:\d+\)?/);
  expect(r.out, `${what}: internal error`).not.toContain("internal error");
  for (const s of SECRETS) {
    expect(r.out, `${what}: printed a secret`).not.toContain(s);
    expect(r.out, `${what}: printed part of a secret`).not.toContain(s.slice(0, 16));
  }
}

describe("testbed validate on random and truncated stack files", () => {
  let dir: string;
  let seedText: string;
  beforeAll(() => {
    // The CLI loads its commands with Node's require, as the binary does (scripts/testbed.js registers tsx).
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    (require("tsx/cjs/api") as { register(): unknown }).register();
    // main and the commands it requires must share one module instance (CliError is matched with instanceof).
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    main = (require("../cli.ts") as typeof import("../cli")).main;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "testbed-fuzz-"));
    seedText = stringify(seedSpec());
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("the seed itself is refused without printing its secrets", async () => {
    const file = path.join(dir, "Pulumi.seed.yaml");
    fs.writeFileSync(file, seedText);
    const r = await validateInProcess(file);
    expect(r.code).toBe(2);
    expect(r.out).toContain("hosts.jetson.labels.token: (secret) is not a Kubernetes label value");
    expectWithinTheBar(r, "seed");
  });

  it("400 mutated files, in process: exit 0/1/2, no stack trace, no secret", async () => {
    const seeds = Array.from({ length: 400 }, (_, i) => 1000 + i);
    for (const seed of seeds) {
      const file = path.join(dir, `Pulumi.fuzz${seed}.yaml`);
      fs.writeFileSync(file, mutate(seedText, rng(seed)));
      expectWithinTheBar(await validateInProcess(file), `seed ${seed}`);
    }
  }, 120_000);

  it("through the real binary too (stderr, exit status, the process's own error handling)", () => {
    for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
      const file = path.join(dir, `Pulumi.bin${seed}.yaml`);
      fs.writeFileSync(file, mutate(seedText, rng(seed)));
      const r = spawnSync("node", [path.join(root, "scripts/testbed.js"), "validate", "--file", file], {
        encoding: "utf8",
        cwd: root,
        timeout: 60_000,
      });
      expectWithinTheBar({ code: r.status, out: r.stdout + r.stderr }, `binary seed ${seed}`);
    }
  }, 120_000);
});

describe("testbed validate on Karmada and vAccel mistakes: exit 2, each named with its field, value and rule", () => {
  let dir: string;
  beforeAll(() => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    (require("tsx/cjs/api") as { register(): unknown }).register();
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    main = (require("../cli.ts") as typeof import("../cli")).main;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "testbed-validate-"));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** The filled demo stack after `edit`, written to a stack file. */
  function stackFile(name: string, edit: (config: Record<string, any>) => void): string {
    const doc = filledDemo();
    edit(doc.config);
    const file = path.join(dir, `Pulumi.${name}.yaml`);
    fs.writeFileSync(file, stringify(doc));
    return file;
  }
  /** The error lines validate printed (warnings about this machine's missing key files left out). */
  const errors = (out: string) =>
    out
      .split("\n")
      .filter((l) => l.startsWith("  "))
      .map((l) => l.trim());

  it("accepts the demo stack once its images are given, and refuses it as shipped, naming both images", async () => {
    expect((await validateInProcess(stackFile("filled", () => undefined))).code).toBe(0);
    const shipped = await validateInProcess(DEMO_STACK);
    expect(shipped.code).toBe(2);
    const placeholder =
      "is a placeholder: put the reference of the image you built or mirrored, pinned by a version tag or a sha256 digest";
    expect(errors(shipped.out)).toEqual([
      `vaccel.agentImage: "<registry>/vaccel-rpc-agent:<version>" ${placeholder}`,
      `vaccel.appImage: "<registry>/yolo-vaccel:<version>" ${placeholder}`,
    ]);
  });

  it("reports every problem of one file together, through the real binary", () => {
    const file = stackFile("many", (c) => {
      c["testbed:karmada"].members = ["edge", "cloud", "mgmt"];
      c["testbed:karmada"].etcdPath = "/srv/karmada-etcd";
      c["testbed:vaccel"].gpuNode = "pi";
      c["testbed:vaccel"].clientNode = "jetson";
      c["testbed:vaccel"].agentImage = "harbor.nbfc.io/nubificus/vaccel-rpc-agent:latest";
    });
    const r = spawnSync("node", [path.join(root, "scripts/testbed.js"), "validate", "--file", file], {
      encoding: "utf8",
      cwd: root,
      timeout: 60_000,
    });
    expect(r.status).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain(`${file}: 5 error(s)\n`);
    expect(errors(r.stderr)).toEqual([
      'karmada.members.1: "cloud" is not a cluster of this spec (known: "mgmt", "edge")',
      'karmada.members.2: "mgmt" hosts Karmada (karmada.cluster); the management cluster is never a member',
      'karmada.etcdPath: "/srv/karmada-etcd" is not where the Karmada chart keeps etcd: chart 1.13.0 puts it at ' +
        '/var/lib/<namespace>/karmada-etcd, here "/var/lib/karmada-system/karmada-etcd"; set etcdPath to ' +
        '"/var/lib/karmada-system/karmada-etcd" so the disk gate measures it',
      'vaccel.gpuNode: "pi" has board "raspberry-pi", which has no GPU for the RPC agent (GPU boards: jetson)',
      'vaccel.agentImage: "harbor.nbfc.io/nubificus/vaccel-rpc-agent:latest" uses the moving tag latest: pin a ' +
        "version tag or a sha256 digest",
    ]);
  });

  it.each<[string, (c: Record<string, any>) => void, string[]]>([
    [
      "a Karmada cluster that does not exist",
      (c) => (c["testbed:karmada"].cluster = "mgnt"),
      ['karmada.cluster: "mgnt" is not a cluster of this spec (known: "mgmt", "edge")'],
    ],
    [
      "vAccel nodes that are not hosts",
      (c) => Object.assign(c["testbed:vaccel"], { clientNode: "rpi", gpuNode: "orin" }),
      [
        'vaccel.clientNode: "rpi" is not a host or VM of this spec (known: "nuc", "pi", "jetson", "karmada-host", "k3s-cp")',
        'vaccel.gpuNode: "orin" is not a host or VM of this spec (known: "nuc", "pi", "jetson", "karmada-host", "k3s-cp")',
      ],
    ],
    [
      "a vAccel node outside the Karmada members",
      (c) => (c["testbed:vaccel"].clientNode = "karmada-host"),
      [
        'vaccel.clientNode: "karmada-host" is in cluster "mgmt", which is not a Karmada member (karmada.members: "edge")',
      ],
    ],
    [
      "vAccel nodes in two member clusters",
      (c) => {
        c["testbed:clusters"].mgmt.server = "nuc";
        c["testbed:clusters"].far = { server: "karmada-host", podCidr: "10.20.0.0/16", serviceCidr: "10.21.0.0/16" };
        c["testbed:karmada"].members.push("far");
        c["testbed:vaccel"].clientNode = "karmada-host";
      },
      [
        'vaccel.clientNode: "karmada-host" is in cluster "far", vaccel.gpuNode "jetson" in "edge": both must be in ' +
          "one member cluster, as the app reaches the agent through a Service of its cluster",
      ],
    ],
    [
      "vAccel without Karmada",
      (c) => delete c["testbed:karmada"],
      ["vaccel: needs testbed:karmada: the pipeline is created through the Karmada API and propagated to a member"],
    ],
    [
      "images left out",
      (c) => {
        delete c["testbed:vaccel"].agentImage;
        delete c["testbed:vaccel"].appImage;
      },
      [
        'vaccel.agentImage: is required: the image of vaccel-rpc-agent with the torch plugin, built or mirrored by you for the GPU node, pinned by a version tag or a sha256 digest; no published image is known (README.md, "Settings")',
        'vaccel.appImage: is required: the image of the object-detection app, built or mirrored by you for the client node, pinned by a version tag or a sha256 digest; no published image is known (README.md, "Settings")',
      ],
    ],
    [
      "an image without a tag",
      (c) => (c["testbed:vaccel"].appImage = "registry.example/yolo-vaccel"),
      [
        'vaccel.appImage: "registry.example/yolo-vaccel" has no tag or digest: pin it by a version tag (name:<version>) or a digest (name@sha256:<digest>)',
      ],
    ],
  ])("%s", async (what, edit, expected) => {
    const r = await validateInProcess(stackFile(what.replace(/[^a-z]+/gi, "-"), edit));
    expect(r.code).toBe(2);
    expect(errors(r.out)).toEqual(expected);
  });
});
