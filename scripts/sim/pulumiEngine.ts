import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { StringDecoder } from "node:string_decoder";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parse, stringify } from "yaml";
import { type GraphNode } from "./engine";
import { REPO, SIM_DIR } from "./hosts";

/**
 * The real Pulumi engine on the simulated testbed: the Pulumi CLI (the official one on PATH, or the one
 * scripts/setup-pulumi.sh built), its Node.js language host and pulumi-resource-command run `pulumi preview`,
 * `up` and `destroy` of this project with the sim stack.
 *
 * Everything of the run lives under `.sim/pulumi/` (git-ignored), never in the tracked files:
 * - `state/`: the local file backend (PULUMI_BACKEND_URL, which overrides Pulumi.yaml's `backend.url`);
 * - `passphrase`: a random passphrase for the stack's secrets (PULUMI_CONFIG_PASSPHRASE_FILE, mode 0600);
 * - `project/`: Pulumi.yaml, links to the program's files, and a copy of stacks/Pulumi.sim.yaml, so that
 *   `pulumi stack init` writes the stack's `encryptionsalt` into the copy and not into the tracked file. A link
 *   `.sim` to the sim directory keeps the stack's relative key paths (`.sim/keys/...`) working: the language host
 *   runs the program in the project directory, and the program resolves them against it.
 */

export const PULUMI_DIR = path.join(SIM_DIR, "pulumi");
const PROJECT_DIR = path.join(PULUMI_DIR, "project");
const STATE_DIR = path.join(PULUMI_DIR, "state");
const PASSPHRASE_FILE = path.join(PULUMI_DIR, "passphrase");
export const SIM_STACK_NAME = "sim";
const SIM_STACK_FILE = path.join(REPO, "stacks", `Pulumi.${SIM_STACK_NAME}.yaml`);
/** The program's files the generated project links to. */
const PROGRAM_FILES = ["index.ts", "components", "node_modules", "package.json", "tsconfig.json"];

const installedVersion = (pkg: string): string =>
  (JSON.parse(fs.readFileSync(path.join(REPO, "node_modules", pkg, "package.json"), "utf8")) as { version: string })
    .version;

/** a >= b for x.y.z versions. */
export function versionAtLeast(a: string, b: string): boolean {
  const pa = a.replace(/^v/, "").split(/[.-]/).map(Number);
  const pb = b.replace(/^v/, "").split(/[.-]/).map(Number);
  for (let i = 0; i < 3; i++) if ((pa[i] ?? 0) !== (pb[i] ?? 0)) return (pa[i] ?? 0) > (pb[i] ?? 0);
  return true;
}

export interface PulumiCli {
  /** The directory of `pulumi` (and, for a built one, `pulumi-language-nodejs`): first on PATH for every run. */
  binDir: string;
  version: string;
}

function cliVersion(binary: string): string | undefined {
  const r = spawnSync(binary, ["version"], {
    encoding: "utf8",
    env: { ...process.env, PULUMI_SKIP_UPDATE_CHECK: "1" },
  });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/**
 * The Pulumi CLI to use, or why there is none: a `pulumi` on PATH at least as new as the installed @pulumi/pulumi,
 * else the one setup-pulumi.sh built into its cache; either with the pulumi-command plugin of package.json's
 * version registered.
 */
export function findPulumi(): { cli: PulumiCli } | { missing: string } {
  const sdk = installedVersion("@pulumi/pulumi");
  const command = installedVersion("@pulumi/command");
  const cache = path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), ".cache"), "testbed", `pulumi-v${sdk}`);
  const candidates: string[] = [];
  const onPath = spawnSync("sh", ["-c", "command -v pulumi"], { encoding: "utf8" }).stdout.trim();
  if (onPath) candidates.push(path.dirname(onPath));
  candidates.push(path.join(cache, "bin"));
  for (const binDir of candidates) {
    const binary = path.join(binDir, "pulumi");
    const version = fs.existsSync(binary) ? cliVersion(binary) : undefined;
    if (!version || !versionAtLeast(version, sdk)) continue;
    const plugins = spawnSync(binary, ["plugin", "ls"], {
      encoding: "utf8",
      env: { ...process.env, PULUMI_SKIP_UPDATE_CHECK: "1" },
    }).stdout;
    if (!plugins.split("\n").some((l) => /^command\s+resource\s+/.test(l) && l.split(/\s+/)[2] === command))
      return { missing: `${binary} has no plugin resource command ${command}: run bash scripts/setup-pulumi.sh` };
    return { cli: { binDir, version } };
  }
  return {
    missing: `no Pulumi CLI >= ${sdk} on PATH or in ${cache}: run bash scripts/setup-pulumi.sh (see README.md)`,
  };
}

function isLink(p: string): boolean {
  try {
    fs.lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

/**
 * The settings whose resources the real engine cannot provision here, as full config keys: Karmada and vAccel are
 * Kubernetes objects and a Helm Release, which need pulumi-resource-kubernetes, and that plugin is not built here
 * (its Release would also fetch the chart from its repository). It runs the sim stack without them; the mock-runtime
 * engine provisions them (scripts/sim/kube.ts). README.md, "The real Pulumi engine".
 */
export const KUBERNETES_SETTINGS: string[] = ["testbed:karmada", "testbed:vaccel"];

/**
 * A copy of a stack file without KUBERNETES_SETTINGS, at `out` (under .sim/ by default): what the real engine runs,
 * for the mock-runtime engine to run the same stack (the bench compares them).
 */
export function stackWithoutKubernetes(
  stackFile = SIM_STACK_FILE,
  out = path.join(SIM_DIR, "stack-without-kubernetes.yaml"),
): string {
  const stack = parse(fs.readFileSync(stackFile, "utf8")) as { config?: Record<string, unknown> };
  for (const key of KUBERNETES_SETTINGS) delete stack.config?.[key];
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, stringify(stack));
  return out;
}

/**
 * Creates (or refreshes) `.sim/pulumi/` (or `root`): the backend, the passphrase, the generated project, whose stack
 * file is `stackFile` (the sim stack unless told) without KUBERNETES_SETTINGS.
 */
export function prepareWorkspace(root = PULUMI_DIR, stackFile = SIM_STACK_FILE): void {
  const projectDir = path.join(root, "project");
  const passphrase = path.join(root, "passphrase");
  fs.mkdirSync(path.join(root, "state"), { recursive: true, mode: 0o700 });
  fs.mkdirSync(projectDir, { recursive: true });
  if (!fs.existsSync(passphrase)) fs.writeFileSync(passphrase, randomBytes(24).toString("base64url"), { mode: 0o600 });
  for (const f of [...PROGRAM_FILES, ".sim"]) {
    const link = path.join(projectDir, f);
    const target = f === ".sim" ? SIM_DIR : path.join(REPO, f);
    // lstat, not existsSync: a link whose target is not there yet (.sim before `sim up` makes it) still exists.
    if (!isLink(link)) fs.symlinkSync(target, link);
  }
  // The project as Pulumi.yaml describes it, with the stack files in the project directory itself.
  const project = parse(fs.readFileSync(path.join(REPO, "Pulumi.yaml"), "utf8")) as Record<string, unknown>;
  delete project.backend;
  delete project.stackConfigDir;
  fs.writeFileSync(path.join(projectDir, "Pulumi.yaml"), stringify(project));
  // The sim stack's settings as tracked, with the salt `stack init` wrote into the copy before.
  const copy = path.join(projectDir, path.basename(SIM_STACK_FILE));
  const stack = parse(fs.readFileSync(stackFile, "utf8")) as {
    config?: Record<string, unknown>;
    encryptionsalt?: unknown;
  };
  for (const key of KUBERNETES_SETTINGS) delete stack.config?.[key];
  if (fs.existsSync(copy)) {
    const salt = (parse(fs.readFileSync(copy, "utf8")) as Record<string, unknown> | null)?.encryptionsalt;
    if (salt) stack.encryptionsalt = salt;
  }
  fs.writeFileSync(copy, stringify(stack));
}

export function pulumiEnv(cli: PulumiCli): NodeJS.ProcessEnv {
  return {
    ...process.env,
    PATH: `${cli.binDir}${path.delimiter}${process.env.PATH ?? ""}`,
    PULUMI_BACKEND_URL: `file://${STATE_DIR}`,
    PULUMI_CONFIG_PASSPHRASE_FILE: PASSPHRASE_FILE,
    PULUMI_CONFIG_PASSPHRASE: undefined,
    PULUMI_SKIP_UPDATE_CHECK: "1",
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "1",
    PULUMI_SKIP_CONFIRMATIONS: "1",
    PULUMI_AUTOMATION_API: undefined,
    NO_COLOR: "1",
  };
}

export interface PulumiRun {
  args: string[];
  status: number;
  stdout: string;
  stderr: string;
  wallMs: number;
  /** The engine's events, when RunOptions.events asked for them. */
  events?: EngineEvent[];
}

/** Runs the CLI in the generated project; each output line also goes to `onLine` as it comes. */
export function runPulumi(
  cli: PulumiCli,
  args: string[],
  onLine?: (line: string) => void,
  env: NodeJS.ProcessEnv = {},
): Promise<PulumiRun> {
  const start = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(path.join(cli.binDir, "pulumi"), args, {
      cwd: PROJECT_DIR,
      env: { ...pulumiEnv(cli), ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const out = { stdout: "", stderr: "" };
    for (const stream of ["stdout", "stderr"] as const) {
      let partial = "";
      child[stream].setEncoding("utf8");
      child[stream].on("data", (d: string) => {
        out[stream] += d;
        const lines = (partial + d).split("\n");
        partial = lines.pop() ?? "";
        for (const l of lines) onLine?.(l);
      });
    }
    child.on("error", reject);
    child.on("close", (code) => resolve({ args, status: code ?? 1, ...out, wallMs: Date.now() - start }));
  });
}

/** Options of one run of the real engine. */
export interface RunOptions {
  /** The stack file whose settings the run uses (KUBERNETES_SETTINGS dropped). Defaults to stacks/Pulumi.sim.yaml. */
  stack?: string;
  /**
   * Read the engine's events (`--event-log`): they come back in PulumiRun.events, and each goes to `onEvent` as it
   * is written. Defaults to false.
   */
  events?: boolean;
  onEvent?: (event: EngineEvent) => void;
}

/** A step's part of an engine event (sdk/go/common/apitype/events.go, StepEventMetadata, v3.248.0). */
export interface StepEventMetadata {
  op: string;
  urn: string;
  type: string;
  diffs?: string[];
}

/** The parts of an engine event read here (sdk/go/common/apitype/events.go, EngineEvent, v3.248.0). */
export interface EngineEvent {
  sequence: number;
  timestamp: number;
  resourcePreEvent?: { metadata: StepEventMetadata };
  resOutputsEvent?: { metadata: StepEventMetadata };
  resOpFailedEvent?: { metadata: StepEventMetadata };
  diagnosticEvent?: { urn?: string; message: string; severity: string };
}

/** A failed run of the CLI, with what it printed and its events. */
export class PulumiRunError extends Error {
  constructor(
    message: string,
    readonly run: PulumiRun,
  ) {
    super(message);
  }
}

/**
 * Follows an event log as the CLI writes it (one JSON object a line, written as each event happens:
 * pkg/backend/display/display.go, v3.248.0, lines 258-283). Debug diagnostics are dropped: they hold the SDK's
 * RPC traces, every input in clear, secrets included (the log is written in a private directory and removed).
 */
export class EventLogReader {
  private offset = 0;
  private partial = "";
  /** A read can end inside a character: the decoder keeps its first bytes for the next. */
  private readonly decoder = new StringDecoder("utf8");
  readonly events: EngineEvent[] = [];
  constructor(
    readonly file: string,
    private readonly onEvent?: (e: EngineEvent) => void,
  ) {}

  read(): void {
    if (!fs.existsSync(this.file)) return;
    const fd = fs.openSync(this.file, "r");
    try {
      const size = fs.fstatSync(fd).size;
      if (size <= this.offset) return;
      const buf = Buffer.alloc(size - this.offset);
      fs.readSync(fd, buf, 0, buf.length, this.offset);
      this.offset = size;
      const lines = (this.partial + this.decoder.write(buf)).split("\n");
      this.partial = lines.pop() ?? "";
      for (const line of lines) {
        if (!line.trim()) continue;
        const e = JSON.parse(line) as EngineEvent;
        if (e.diagnosticEvent?.severity === "debug") continue;
        this.events.push(e);
        this.onEvent?.(e);
      }
    } finally {
      fs.closeSync(fd);
    }
  }
}

/** Selects the sim stack, creating it (passphrase secrets provider) the first time; its settings from `stack`. */
export async function selectSimStack(cli: PulumiCli, opts: RunOptions = {}): Promise<void> {
  prepareWorkspace(PULUMI_DIR, opts.stack);
  const select = await runPulumi(cli, ["stack", "select", SIM_STACK_NAME, "--non-interactive"]);
  if (select.status === 0) return;
  const init = await runPulumi(cli, [
    "stack",
    "init",
    SIM_STACK_NAME,
    "--secrets-provider",
    "passphrase",
    "--non-interactive",
  ]);
  if (init.status !== 0) throw new Error(`pulumi stack init ${SIM_STACK_NAME} failed: ${init.stderr.trim()}`);
}

/** Whether the sim stack has resources in the real engine's state (a `sim up --engine pulumi` left them). */
export function simStackHasResources(): boolean {
  const file = path.join(STATE_DIR, ".pulumi", "stacks", "testbed", `${SIM_STACK_NAME}.json`);
  if (!fs.existsSync(file)) return false;
  const state = JSON.parse(fs.readFileSync(file, "utf8")) as {
    checkpoint?: { latest?: { resources?: { type: string }[] } };
  };
  return (state.checkpoint?.latest?.resources ?? []).some((r) => r.type === "command:remote:Command");
}

async function operation(
  cli: PulumiCli,
  args: string[],
  onLine?: (line: string) => void,
  opts: RunOptions = {},
): Promise<PulumiRun> {
  await selectSimStack(cli, opts);
  const logDir = opts.events || opts.onEvent ? fs.mkdtempSync(path.join(os.tmpdir(), "testbed-events-")) : undefined;
  const log = logDir === undefined ? undefined : new EventLogReader(path.join(logDir, "events.jsonl"), opts.onEvent);
  const timer = log === undefined ? undefined : setInterval(() => log.read(), 100);
  let r: PulumiRun;
  try {
    r = await runPulumi(
      cli,
      [...args, ...(log ? ["--event-log", log.file] : []), "--stack", SIM_STACK_NAME, "--non-interactive"],
      onLine,
      // `--event-log` exists only with debug commands on (pkg/cmd/pulumi/operations/up.go, v3.248.0, line 909).
      log ? { PULUMI_DEBUG_COMMANDS: "true" } : {},
    );
    log?.read();
  } finally {
    clearInterval(timer);
    if (logDir !== undefined) fs.rmSync(logDir, { recursive: true, force: true });
  }
  if (log) r.events = log.events;
  if (r.status !== 0) throw new PulumiRunError(`pulumi ${args[0]} failed (exit ${r.status}):\n${failure(r)}`, r);
  return r;
}

/**
 * Why a run failed, as the CLI printed it: its `Diagnostics:` section (each failed step's error under the step's
 * name), and stderr; the last 30 lines of its output when it printed no such section.
 */
export function failure(r: Pick<PulumiRun, "stdout" | "stderr">): string {
  const m = /^Diagnostics:\n([\s\S]*?)(?=^\S|(?![\s\S]))/m.exec(r.stdout);
  const text = m ? `Diagnostics:\n${m[1].trimEnd()}\n${r.stderr.trim()}` : `${r.stdout}\n${r.stderr}`;
  return text.trim().split("\n").slice(-30).join("\n");
}

/** What the engine did with one step in a run, from its events, in the order the steps began. */
export interface StepSpan {
  name: string;
  /** As the mock-runtime engine says it (StepOp): a replacement's three steps are one `replace`. */
  op: string;
  /** Sequence numbers of its first event and of its last (its outputs, or its failure). */
  start: number;
  end?: number;
  failed: boolean;
}

/** The steps (`command:remote:Command`) of a run's events: each step's operation and when it began and ended. */
export function stepSpans(events: EngineEvent[]): StepSpan[] {
  const spans = new Map<string, StepSpan>();
  const opOf = (op: string) => (["replace", "create-replacement", "delete-replaced"].includes(op) ? "replace" : op);
  for (const e of events) {
    const kind = e.resourcePreEvent ? "pre" : e.resOutputsEvent ? "done" : e.resOpFailedEvent ? "failed" : undefined;
    const meta = (e.resourcePreEvent ?? e.resOutputsEvent ?? e.resOpFailedEvent)?.metadata;
    if (kind === undefined || meta === undefined || meta.type !== "command:remote:Command") continue;
    const name = meta.urn.slice(meta.urn.lastIndexOf("::") + 2);
    let span = spans.get(name);
    if (span === undefined) {
      span = { name, op: opOf(meta.op), start: e.sequence, failed: false };
      spans.set(name, span);
    }
    if (kind !== "pre") span.end = e.sequence;
    if (kind === "failed") span.failed = true;
  }
  return [...spans.values()];
}

export const preview = (
  cli: PulumiCli,
  onLine?: (line: string) => void,
  extra: string[] = ["--diff"],
  opts: RunOptions = {},
) => operation(cli, ["preview", ...extra], onLine, opts);
/** `pulumi up`; `--expect-no-changes` in `extra` makes it fail when any step would run. */
export const up = (cli: PulumiCli, onLine?: (line: string) => void, extra: string[] = [], opts: RunOptions = {}) =>
  operation(cli, ["up", "--yes", "--skip-preview", ...extra], onLine, opts);
export const destroy = (cli: PulumiCli, onLine?: (line: string) => void, extra: string[] = [], opts: RunOptions = {}) =>
  operation(cli, ["destroy", "--yes", "--skip-preview", ...extra], onLine, opts);

/** The stack's outputs, secrets masked as Pulumi shows them. */
export async function stackOutputs(cli: PulumiCli): Promise<Record<string, unknown>> {
  await selectSimStack(cli);
  const r = await runPulumi(cli, ["stack", "output", "--json", "--stack", SIM_STACK_NAME]);
  if (r.status !== 0) throw new Error(`pulumi stack output failed: ${r.stderr.trim()}`);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

/** A resource of the stack's state (`pulumi stack export`, apitype.ResourceV3), the parts its graph is made of. */
interface StateResource {
  urn: string;
  type: string;
  custom: boolean;
  parent?: string;
  dependencies?: string[];
  propertyDependencies?: Record<string, string[]>;
  provider?: string;
  deletedWith?: string;
}

/**
 * The stack's resources as Pulumi's dependency graph sees them (pkg/resource/graph/dependency_graph.go,
 * DependenciesOf, v3.248.0): parent, dependencies, property dependencies, provider, deletedWith. In state order,
 * as deleteLayers wants them; `name` is the last part of the URN.
 */
export async function stateGraph(
  cli: PulumiCli,
  opts: RunOptions = {},
): Promise<(GraphNode & { name: string; type: string })[]> {
  await selectSimStack(cli, opts);
  const r = await runPulumi(cli, ["stack", "export", "--stack", SIM_STACK_NAME]);
  if (r.status !== 0) throw new Error(`pulumi stack export failed: ${r.stderr.trim()}`);
  const resources = (JSON.parse(r.stdout) as { deployment: { resources?: StateResource[] } }).deployment.resources;
  return (resources ?? []).map((res) => ({
    urn: res.urn,
    name: res.urn.slice(res.urn.lastIndexOf("::") + 2),
    type: res.type,
    custom: res.custom,
    parent: res.parent,
    dependsOn: [
      ...(res.dependencies ?? []),
      ...Object.values(res.propertyDependencies ?? {}).flat(),
      ...(res.provider ? [res.provider.slice(0, res.provider.lastIndexOf("::"))] : []),
      ...(res.deletedWith ? [res.deletedWith] : []),
    ],
  }));
}

/** Removes the real engine's state and generated project (the passphrase file too): `sim down` calls it. */
export function forgetSimStack(): void {
  fs.rmSync(PULUMI_DIR, { recursive: true, force: true });
}
