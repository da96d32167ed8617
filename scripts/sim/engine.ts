import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import stableStringify from "fast-json-stable-stringify";
import { type SshConnection, type SshSession, openSession } from "../../components/remote/session";
import { parseResult } from "../../components/remote/script";
import { readStackConfig } from "../../components/spec";
import { type NewResourceRequest, type RecordedResource, runProgram } from "../lib/programRunner";
import { planSteps } from "../lib/graph";
import { REPO, SIM_DIR, SIM_STACK, cutConnections, loadState } from "./hosts";
import { type ReleaseRequest, installKarmadaRelease, uninstallKarmadaRelease } from "./karmada/release";
import { nsenterNode } from "./karmada/node";
import { spawn } from "node:child_process";
import {
  type KubeApi,
  type KubeObjectRef,
  applyObject,
  deleteObject,
  describe as describeObject,
  kubeApi,
  newFieldManager,
  readObject,
  refOf,
} from "./kube";
import * as os from "node:os";

/**
 * The test engine: runs the real program (index.ts) with the sim stack under Pulumi's mock runtime, and executes
 * each `command:remote:Command` for real over SSH (pulumi-command's connection semantics: pinned host key, one
 * jump host, the same command line and stdin) as soon as the mock runtime hands it over, which is when its
 * dependencies have finished. Kubernetes objects go to the sim clusters' kube-apiservers as pulumi-kubernetes sends
 * them (kube.ts), and the Karmada Helm Release to its double (karmada/release.ts). Every executed step is saved, so `destroy` can run
 * the `delete` commands in reverse order (the mock runtime never calls delete).
 *
 * A step is run or not as `pulumi up` with pulumi-command 1.x decides (provider/pkg/provider/remote): no saved
 * state: create; same inputs as saved: nothing runs, the saved outputs are used; other inputs (the script on stdin,
 * the connection): an update, which runs `create` again; other `triggers`: a replacement, create-before-delete,
 * so the old step's `delete` runs after everything else. A step the program no longer has is deleted at the end.
 * `rerun` runs every step again, as a provisioner upgrade that changes every script would.
 */

/** What the engine did with a step, in Pulumi's words: same means nothing ran. */
export type StepOp = "create" | "update" | "replace" | "same" | "delete";

export interface StepRun {
  name: string;
  host: string;
  op: StepOp;
  changed: boolean;
  detail: string;
  startMs: number;
  endMs: number;
}

export interface EngineResult {
  steps: StepRun[];
  outputs: Record<string, unknown>;
  resources: RecordedResource[];
  wallMs: number;
  sessionsPerHost: Record<string, number>;
}

interface Applied {
  name: string;
  /** A command's SSH connection (absent for a Kubernetes object). */
  connection?: SshConnection;
  /** A Kubernetes object (or Helm release): where it went and how the provider deletes it. */
  kube?: KubeApplied;
  delete?: string;
  stdin?: string;
  /** Digests of the inputs Pulumi diffs (all but triggers) and of the triggers; the outputs of the last run. */
  inputs?: string;
  triggers?: string;
  outputs?: { stdout: string; stderr: string };
  /** The steps this one depends on, as Pulumi's state keeps them: a delete waits for the deletes of its dependents. */
  dependsOn?: string[];
  /** Its layer in `pulumi destroy`'s schedule (deleteLayers), from the graph of the run that last registered it. */
  deleteLayer?: number;
}

/** What the state keeps of a Kubernetes object to update or delete it as pulumi-kubernetes would. */
interface KubeApplied {
  /** The provider's kubeconfig (a secret: the state file is private). */
  kubeconfig: string;
  ref: KubeObjectRef;
  fieldManager: string;
  annotations: Record<string, string>;
  /** For a Helm Release: its inputs, for the uninstall. */
  release?: Record<string, unknown>;
}

/** A digest of a value, independent of key order (inputs hold the private key: only the digest is kept). */
function digest(value: unknown): string {
  return createHash("sha256")
    .update(stableStringify(value ?? null))
    .digest("hex");
}

/** A resource as the deletes' schedule sees it: its parent and the resources it depends on, by URN. */
export interface GraphNode {
  urn: string;
  custom: boolean;
  parent?: string;
  dependsOn: string[];
}

/**
 * The layer of each resource (by index) in `pulumi destroy`'s schedule, as Pulumi v3.248.0 computes it
 * (pkg/resource/deploy/step_generator.go, ScheduleDeletes, lines 2560-2609, over graph.DependenciesOf,
 * pkg/resource/graph/dependency_graph.go, lines 206-251): a resource's layer is one more than the highest layer of
 * what it depends on (its parent, its dependencies, and the children registered before it of a component it
 * depends on), 0 with none. Deletes run layer by layer, highest first; a layer's deletes run together and the next
 * layer starts only once all of them have ended (pkg/resource/deploy/deployment_executor.go, lines 498-551). So a
 * step waits not only for its dependents' deletes but for every deeper layer: the Pi's `memory-cgroup` is undone
 * after the nuc's `fsync-after`, which it has nothing to do with. `nodes` are in registration order.
 */
export function deleteLayers(nodes: GraphNode[]): number[] {
  const index = new Map(nodes.map((n, i) => [n.urn, i]));
  const layers: number[] = [];
  const under = (i: number, ancestor: string): boolean => {
    for (let p = nodes[i].parent; p !== undefined; p = nodes[index.get(p) ?? -1]?.parent)
      if (p === ancestor) return true;
    return false;
  };
  const layerOf = (i: number): number => {
    if (layers[i] !== undefined) return layers[i];
    const n = nodes[i];
    const deps = new Set<number>();
    // Only resources registered before this one count, as Pulumi walks back from it (no cycles).
    const before = (u: string | undefined) => (u === undefined ? undefined : index.get(u));
    const parent = before(n.parent);
    if (parent !== undefined && parent < i) deps.add(parent);
    for (const d of n.dependsOn) {
      const j = before(d);
      if (j === undefined || j >= i) continue;
      deps.add(j);
      if (!nodes[j].custom) for (let k = 0; k < i; k++) if (under(k, d)) deps.add(k);
    }
    layers[i] = deps.size === 0 ? 0 : 1 + Math.max(...[...deps].map(layerOf));
    return layers[i];
  };
  return nodes.map((_, i) => layerOf(i));
}

/** When the "connection cut" fault strikes after a step started. */
export const CUT_AFTER_MS = 300;

export const STATE_FILE = path.join(SIM_DIR, "engine-state.json");
/** The stack outputs of the last up, secrets in clear (0600): scripts/lib/stackOutputs.ts SIM_OUTPUTS_FILE. */
export const SIM_OUTPUTS_FILE = path.join(SIM_DIR, "outputs.json");

/** A step failed on its host: the message names the step, the host and what the script said. */
export class StepError extends Error {
  override name = "StepError";
}

function toConnection(raw: Record<string, unknown>): SshConnection {
  const c = raw as unknown as SshConnection & { proxy?: SshConnection };
  return {
    host: c.host,
    port: c.port,
    user: c.user,
    privateKey: c.privateKey,
    hostKey: c.hostKey,
    dialErrorLimit: c.dialErrorLimit,
    perDialTimeout: c.perDialTimeout,
    proxy: c.proxy ? ({ ...c.proxy, proxy: undefined } as SshConnection) : undefined,
  };
}

/**
 * The steps' SSH connections: one per step, as pulumi-command dials anew for every command it runs
 * (provider/pkg/provider/remote/commandOutputs.go, v1.2.1, run(): Connection.Dial), with the step's own dial budget.
 * So a step that follows a reboot waits for the host as the real one would, and never finds an old connection.
 * Counted per host for the benchmark.
 */
class Sessions {
  private readonly live = new Set<SshSession>();
  readonly opened: Record<string, number> = {};

  async get(conn: SshConnection, label: string): Promise<SshSession> {
    this.opened[label] = (this.opened[label] ?? 0) + 1;
    const s = await openSession(conn, { label });
    this.live.add(s);
    return s;
  }

  async release(s: SshSession): Promise<void> {
    this.live.delete(s);
    await s.dispose().catch(() => undefined);
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.live].map((s) => s.dispose().catch(() => undefined)));
    this.live.clear();
  }
}

/** A step's progress line on stderr (components/disk/fio.sh prints one at most once a second while it measures). */
const PROGRESS = /^fdatasync latency: \d+ of \d+ syncs/;

/** The progress lines in a chunk of a step's stderr, whole lines only (a chunk can end mid-line: kept in `partial`). */
export function progressLines(partial: string, chunk: string): { lines: string[]; partial: string } {
  const lines = (partial + chunk).split("\n");
  const rest = lines.pop() ?? "";
  return { lines: lines.filter((l) => PROGRESS.test(l)), partial: rest };
}

export interface UpOptions {
  /** Run one step at a time (the benchmark's serial baseline). */
  serial?: boolean;
  /**
   * Called as each step starts and ends, and with each progress line a step prints on stderr (a measurement's
   * `fdatasync latency: ...`, at most once a second), as pulumi-command streams a step's stderr during `pulumi up`.
   */
  onStep?: (event: "start" | "end" | "progress", name: string, detail?: string) => void;
  stack?: string;
  /** Fault injection: cut the host's SSH connections in the middle of this step (CUT_AFTER_MS after it starts). */
  cutAt?: string;
  /** Run every step's create again, even one whose inputs are unchanged (each must then report unchanged). */
  rerun?: boolean;
  /**
   * (up() only) Give up after this long, as an operator would stop a `pulumi up` that hangs: the run is killed and
   * fails with "timed out". pulumi-command itself has no limit.
   */
  timeoutMs?: number;
}

function hostOf(name: string): string {
  return name.includes("/") ? name.slice(0, name.indexOf("/")) : "(local)";
}

/** Provisions the sim stack in this process: the real program, every step run over SSH. One run per process. */
export async function upInProcess(opts: UpOptions = {}): Promise<EngineResult> {
  const sessions = new Sessions();
  const steps: StepRun[] = [];
  const applied: Applied[] = loadApplied();
  const registered = new Set<string>();
  /** The old halves of replaced steps: deleted once everything else is done, as Pulumi does. */
  const replaced: Applied[] = [];
  const t0 = Date.now();
  /**
   * A step that failed part-way: its host is in an unknown state, so the next up runs it again. (Pulumi keeps a
   * failed update's old inputs, so it retries; a forced rerun has no changed input to keep, hence this mark.)
   */
  const unfinished = (name: string) => {
    const saved = applied.find((a) => a.name === name);
    if (saved === undefined) return;
    saved.inputs = undefined;
    saveApplied(applied);
  };
  let queue = Promise.resolve();
  /** The Kubernetes providers' kubeconfigs by provider name, and one client per kubeconfig. */
  const providers = new Map<string, string>();
  const apis = new Map<string, KubeApi>();
  const apiOf = (kubeconfig: string, what: string) => {
    let api = apis.get(kubeconfig);
    if (api === undefined) apis.set(kubeconfig, (api = kubeApi(kubeconfig, what)));
    return api;
  };
  const newResource = async (req: NewResourceRequest) => {
    if (req.type === "pulumi:providers:kubernetes") {
      providers.set(req.name, String(req.rawInputs.kubeconfig ?? ""));
      return { id: `${req.name}-id`, state: req.rawInputs };
    }
    if (req.type.startsWith("kubernetes:")) return kubeResource(req);
    if (req.type !== "command:remote:Command") {
      // Components: recorded by runProgram, nothing to execute.
      return { state: req.rawInputs };
    }
    registered.add(req.name);
    // Its dependencies as steps (one on a component stands for the steps inside it), kept for destroy's order.
    const dependsOn = planSteps(req.registered()).find((x) => x.name === req.name)?.dependsOn ?? [];
    // Its layer in a destroy: this registration is in the list (its URN still empty), after all it depends on.
    const graph = req.registered();
    const self = graph.findIndex((r) => r.type === req.type && r.name === req.name);
    const deleteLayer = deleteLayers(graph.slice(0, self + 1))[self];
    const { triggers, ...diffed } = req.rawInputs;
    const inputsDigest = digest(diffed);
    const triggersDigest = digest(triggers);
    const previous = applied.find((a) => a.name === req.name);
    const op: StepOp =
      previous === undefined
        ? "create"
        : previous.triggers !== undefined && previous.triggers !== triggersDigest
          ? "replace"
          : opts.rerun || previous.inputs !== inputsDigest || previous.outputs === undefined
            ? "update"
            : "same";
    if (op === "same" && previous?.outputs) {
      previous.dependsOn = dependsOn;
      previous.deleteLayer = deleteLayer;
      saveApplied(applied);
      const at = Date.now() - t0;
      steps.push({ name: req.name, host: hostOf(req.name), op, changed: false, detail: "", startMs: at, endMs: at });
      return { id: `${req.name}-id`, state: { ...req.rawInputs, ...previous.outputs } };
    }
    const run = async () => {
      const inputs = req.rawInputs as {
        connection: Record<string, unknown>;
        create: string;
        delete?: string;
        stdin?: string;
      };
      const conn = toConnection(inputs.connection);
      const host = hostOf(req.name);
      opts.onStep?.("start", req.name);
      const startMs = Date.now() - t0;
      let result;
      // stdout and stderr as they arrived, which pulumi-command's error quotes in full.
      let both = "";
      let partial = "";
      let session: SshSession | undefined;
      try {
        session = await sessions.get(conn, host);
        // Fault injection: cut the host's connections while the step runs (300 ms in: a measurement takes longer).
        const timer = opts.cutAt === req.name ? setTimeout(() => cutConnections(host), CUT_AFTER_MS) : undefined;
        try {
          result = await session.exec(inputs.create, {
            stdin: inputs.stdin,
            onStdout: (d) => (both += d),
            onStderr: (d) => {
              both += d;
              const p = progressLines(partial, d);
              partial = p.partial;
              for (const line of p.lines) opts.onStep?.("progress", req.name, line);
            },
          });
        } finally {
          clearTimeout(timer);
        }
      } catch (err) {
        if (session) void sessions.release(session);
        unfinished(req.name);
        throw new StepError(`step ${req.name} on host ${host}: ${(err as Error).message}`);
      }
      void sessions.release(session);
      if (result.code !== 0) {
        unfinished(req.name);
        // As pulumi-command words it (commandOutputs.go, v1.2.1, lines 77-101): the exit, the command line and all
        // of stdout and stderr, whatever `logging` says. A step that printed a secret before failing shows it here.
        throw new StepError(
          `step ${req.name} on host ${host} failed (exit ${result.code}): running ${JSON.stringify(inputs.create)}:\n${both}`,
        );
      }
      const done = outcome(result.stdout, req.name, host);
      steps.push({
        name: req.name,
        host,
        op,
        changed: done.changed,
        detail: done.detail,
        startMs,
        endMs: Date.now() - t0,
      });
      opts.onStep?.("end", req.name, done.line);
      // The latest inputs win, as in Pulumi's state: a delete must use the current connection and script.
      const entry: Applied = {
        name: req.name,
        connection: conn,
        delete: inputs.delete,
        stdin: inputs.stdin,
        inputs: inputsDigest,
        triggers: triggersDigest,
        outputs: { stdout: result.stdout, stderr: result.stderr },
        dependsOn,
        deleteLayer,
      };
      const i = applied.findIndex((a) => a.name === req.name);
      if (i >= 0) {
        if (op === "replace") replaced.push(applied[i]);
        applied[i] = entry;
      } else applied.push(entry);
      saveApplied(applied);
      return { id: `${req.name}-id`, state: { ...req.rawInputs, stdout: result.stdout, stderr: result.stderr } };
    };
    if (!opts.serial) return run();
    const mine = queue.then(run);
    queue = mine.then(
      () => undefined,
      () => undefined,
    );
    return mine;
  };
  /**
   * A Kubernetes object (scripts/sim/kube.ts has what pulumi-kubernetes does with it), or a read. Run, skipped or
   * saved as a command step is: same inputs as saved, nothing is sent.
   */
  const kubeResource = async (req: NewResourceRequest): Promise<{ id?: string; state: Record<string, unknown> }> => {
    const providerName = req.provider?.split("::").at(-2);
    const kubeconfig = providerName === undefined ? undefined : providers.get(providerName);
    if (kubeconfig === undefined || kubeconfig === "")
      throw new StepError(`${req.type} ${req.name}: no provider with a kubeconfig (the sim has no default provider)`);
    const api = apiOf(kubeconfig, `provider ${providerName} kubeconfig`);
    const [, groupVersion, kind] = req.type.split(":");
    if (req.id !== undefined) {
      const apiVersion = groupVersion.startsWith("core/") ? groupVersion.slice("core/".length) : groupVersion;
      const live = await readObject(api, apiVersion, kind, req.id);
      return { id: req.id, state: live };
    }
    registered.add(req.name);
    const graph = req.registered();
    const self = graph.findIndex((r) => r.type === req.type && r.name === req.name);
    const deleteLayer = deleteLayers(graph.slice(0, self + 1))[self];
    const dependsOn = planSteps(graph).find((x) => x.name === req.name)?.dependsOn ?? [];
    const body = req.rawInputs as Record<string, unknown> & { metadata?: { annotations?: Record<string, string> } };
    const release = req.type === "kubernetes:helm.sh/v3:Release";
    const ref = release ? releaseRef(req.rawInputs) : refOf(body);
    const inputsDigest = digest({ body, kubeconfig });
    const previous = applied.find((a) => a.name === req.name);
    if (previous !== undefined && previous.kube === undefined)
      throw new StepError(
        `${req.name}: a command step of that name is in the state; Kubernetes objects need their own`,
      );
    const moved = previous?.kube !== undefined && digest(previous.kube.ref) !== digest(ref);
    const op: StepOp =
      previous === undefined ? "create" : moved ? "replace" : previous.inputs !== inputsDigest ? "update" : "same";
    const host = api.hostPort;
    const at = Date.now() - t0;
    if (op === "same" && previous?.outputs) {
      previous.dependsOn = dependsOn;
      previous.deleteLayer = deleteLayer;
      saveApplied(applied);
      steps.push({ name: req.name, host, op, changed: false, detail: "", startMs: at, endMs: at });
      return { id: `${req.name}-id`, state: JSON.parse(previous.outputs.stdout) as Record<string, unknown> };
    }
    opts.onStep?.("start", req.name);
    const fieldManager = (!moved && previous?.kube?.fieldManager) || newFieldManager();
    const entryOf = (live?: Record<string, unknown>): Applied => ({
      name: req.name,
      kube: {
        kubeconfig,
        ref,
        fieldManager,
        annotations: body.metadata?.annotations ?? {},
        release: release ? req.rawInputs : undefined,
      },
      // No inputs' digest for a failed one: the next up runs it again.
      inputs: live === undefined ? undefined : inputsDigest,
      outputs: live === undefined ? undefined : { stdout: JSON.stringify(live), stderr: "" },
      dependsOn,
      deleteLayer,
    });
    const record = (entry: Applied) => {
      const i = applied.findIndex((a) => a.name === req.name);
      if (i >= 0) {
        if (op === "replace" && entry.inputs !== undefined) replaced.push(applied[i]);
        applied[i] = entry;
      } else applied.push(entry);
      saveApplied(applied);
    };
    let live: Record<string, unknown>;
    try {
      if (release) {
        // Helm's upgrade is not played: an update (or the retry of a failed install) uninstalls, then installs.
        if (previous?.kube !== undefined) await uninstallRelease(previous.kube);
        live = await installRelease(req.rawInputs, kubeconfig);
      } else live = await applyObject(api, body, fieldManager);
    } catch (err) {
      // What failed part-way may exist (an object created but not ready, a release recorded failed with its
      // processes running): pulumi-kubernetes reports it as a partial create, so Pulumi keeps it in the state, to
      // be updated by the next up and deleted by destroy. Kept the same way here.
      if (previous === undefined || !moved) record(entryOf());
      else unfinished(req.name);
      throw new StepError(`${req.name}: ${(err as Error).message}`);
    }
    record(entryOf(live));
    const detail = `${op === "create" ? "created" : "applied"} ${describeObject(ref)}`;
    steps.push({ name: req.name, host, op, changed: true, detail, startMs: at, endMs: Date.now() - t0 });
    opts.onStep?.("end", req.name, `TESTBED changed ${detail}`);
    return { id: `${req.name}-id`, state: live };
  };
  try {
    const config = readStackConfig(opts.stack ?? SIM_STACK);
    const { resources, outputs, outputsWithSecrets } = await runProgram({
      stack: "sim",
      config,
      projectDir: REPO,
      preview: false,
      newResource,
    });
    // Then the deletes Pulumi leaves for the end: old halves of replacements, and steps the program no longer has.
    const gone = applied.filter((a) => !registered.has(a.name)).reverse();
    for (const old of [...replaced.reverse(), ...gone]) {
      const d = await runDelete(sessions, old, t0, opts.onStep);
      if (d) steps.push(d);
      if (gone.includes(old)) applied.splice(applied.indexOf(old), 1);
      saveApplied(applied);
    }
    // What `pulumi stack output --show-secrets` would give, for the CLI's `--stack sim` (scripts/lib/stackOutputs.ts).
    fs.writeFileSync(SIM_OUTPUTS_FILE, JSON.stringify(outputsWithSecrets), { mode: 0o600 });
    fs.chmodSync(SIM_OUTPUTS_FILE, 0o600);
    return { steps, outputs, resources, wallMs: Date.now() - t0, sessionsPerHost: { ...sessions.opened } };
  } finally {
    await sessions.closeAll();
    for (const api of apis.values()) api.client.close();
  }
}

/** A failed run: the error's message, and the steps that finished before it. */
export class RunError extends Error {
  constructor(
    message: string,
    readonly ran: StepRun[],
  ) {
    super(message);
  }
}

/**
 * Provisions the sim stack in a child process, as `pulumi up` is one process per run: Pulumi's mock runtime is
 * process-global, and a failed run leaves promises behind that must not reach the next one.
 */
export function up(opts: UpOptions = {}): Promise<EngineResult> {
  const resultFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "testbed-engine-")), "result.json");
  const args = [path.join(REPO, "scripts/testbed.js"), "sim", "engine-run", "--result", resultFile];
  if (opts.serial) args.push("--serial");
  if (opts.stack) args.push("--stack-file", opts.stack);
  if (opts.cutAt) args.push("--cut-at", opts.cutAt);
  if (opts.rerun) args.push("--rerun");
  return new Promise((resolve, reject) => {
    const child = spawn("node", args, { stdio: ["ignore", "ignore", "pipe"] });
    let timedOut = false;
    const timer =
      opts.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            child.kill("SIGKILL");
          }, opts.timeoutMs);
    let buffer = "";
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => {
      buffer += d.toString();
      let nl: number;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        const m = /^STEP (start|end|progress) (\S+) ?(.*)$/.exec(line);
        if (m) opts.onStep?.(m[1] as "start" | "end" | "progress", m[2], m[3]);
        else stderr += `${line}\n`;
      }
    });
    child.on("close", () => {
      clearTimeout(timer);
      let out: { result?: EngineResult; error?: string; ran?: StepRun[] } = {};
      if (timedOut) {
        fs.rmSync(path.dirname(resultFile), { recursive: true, force: true });
        return reject(new RunError(`timed out after ${(opts.timeoutMs ?? 0) / 1000} s: the run hangs`, []));
      }
      try {
        out = JSON.parse(fs.readFileSync(resultFile, "utf8"));
      } catch {
        out = { error: `the engine process died: ${stderr.trim()}` };
      }
      fs.rmSync(path.dirname(resultFile), { recursive: true, force: true });
      if (out.result) resolve(out.result);
      else reject(new RunError(out.error ?? "unknown failure", out.ran ?? []));
    });
  });
}

function loadApplied(): Applied[] {
  return fs.existsSync(STATE_FILE) ? (JSON.parse(fs.readFileSync(STATE_FILE, "utf8")) as Applied[]) : [];
}

function saveApplied(applied: Applied[]): void {
  // Holds connections (with the sim's private key) and stdin: private to root, like a Pulumi state file.
  fs.mkdirSync(SIM_DIR, { recursive: true });
  fs.writeFileSync(STATE_FILE, JSON.stringify(applied), { mode: 0o600 });
}

/** A step's result line, read with the program's own parser; a step that printed none is an error naming it. */
export function outcome(
  stdout: string,
  step: string,
  host: string,
): { changed: boolean; detail: string; line: string } {
  let r;
  try {
    r = parseResult(stdout);
  } catch (err) {
    throw new StepError(`step ${step} on host ${host}: ${(err as Error).message}`);
  }
  return { ...r, line: `TESTBED ${r.changed ? "changed" : "unchanged"} ${r.detail}`.trimEnd() };
}

/** Runs one saved step's delete with the inputs it was last run with (its connection and script), if it has one. */
async function runDelete(
  sessions: Sessions,
  a: Applied,
  t0: number,
  onStep?: UpOptions["onStep"],
): Promise<StepRun | undefined> {
  if (a.kube !== undefined) return deleteKube(a.kube, a.name, t0, onStep);
  if (!a.delete || a.connection === undefined) return undefined;
  onStep?.("start", a.name);
  const startMs = Date.now() - t0;
  const host = hostOf(a.name);
  const session = await sessions.get(a.connection, host);
  const r = await session.exec(a.delete, { stdin: a.stdin }).finally(() => sessions.release(session));
  if (r.code !== 0) throw new StepError(`delete of ${a.name} failed (exit ${r.code}): ${r.stderr.trim()}`);
  const { changed, detail, line } = outcome(r.stdout, `${a.name} (delete)`, host);
  onStep?.("end", a.name, line);
  return { name: a.name, host, op: "delete", changed, detail, startMs, endMs: Date.now() - t0 };
}

/** A Helm Release as the state names it. */
function releaseRef(inputs: Record<string, unknown>): KubeObjectRef {
  return {
    apiVersion: "helm.sh/v3",
    kind: "Release",
    name: String(inputs.name ?? ""),
    namespace: typeof inputs.namespace === "string" ? inputs.namespace : "default",
  };
}

/**
 * The Release double's request (scripts/sim/karmada/release.ts): its processes run on the sim VM the values pin
 * Karmada's etcd to, entered through the namespaces of its sshd.
 */
function releaseRequest(inputs: Record<string, unknown>, kubeconfig: string): ReleaseRequest {
  const values = (inputs.values ?? {}) as { etcd?: { internal?: { nodeSelector?: Record<string, string> } } };
  const nodeName = values.etcd?.internal?.nodeSelector?.["kubernetes.io/hostname"];
  const host = loadState().hosts.find((h) => h.name === nodeName);
  if (host?.pid === undefined)
    throw new StepError(
      `Release ${String(inputs.name)}: its etcd is pinned to "${nodeName}", which is no running sim host`,
    );
  return {
    inputs,
    kubeconfig,
    // etcd on the chart's ports (2379, 2380), where doctor looks for it: the k3s double's etcd keeps off them.
    node: nsenterNode(host.name, host.address, host.pid),
  };
}

async function installRelease(inputs: Record<string, unknown>, kubeconfig: string): Promise<Record<string, unknown>> {
  return installKarmadaRelease(releaseRequest(inputs, kubeconfig));
}

async function uninstallRelease(k: KubeApplied): Promise<void> {
  await uninstallKarmadaRelease(releaseRequest(k.release ?? {}, k.kubeconfig));
}

/** Deletes a Kubernetes object as pulumi-kubernetes does (scripts/sim/kube.ts deleteObject). */
async function deleteKube(k: KubeApplied, name: string, t0: number, onStep?: UpOptions["onStep"]): Promise<StepRun> {
  onStep?.("start", name);
  const startMs = Date.now() - t0;
  const api = kubeApi(k.kubeconfig, `state of ${name}`);
  try {
    if (k.release !== undefined) await uninstallRelease(k);
    else await deleteObject(api, k.ref, k.annotations);
  } catch (err) {
    throw new StepError(`${name}: ${(err as Error).message}`);
  } finally {
    api.client.close();
  }
  const detail = `deleted ${describeObject(k.ref)}`;
  onStep?.("end", name, `TESTBED changed ${detail}`);
  return { name, host: api.hostPort, op: "delete", changed: true, detail, startMs, endMs: Date.now() - t0 };
}

/**
 * Runs every applied step's delete as `pulumi destroy` does: layer by layer (deleteLayers), highest first, a
 * layer's deletes together, the next layer once they have all ended. After a failure no new layer starts, the
 * running deletes finish, and the state keeps what was not deleted (Pulumi goes on with the deletes that do not
 * depend on the failed one: stricter here, never less safe). A state saved before layers were recorded is deleted
 * by its dependencies' layers (newest first, without them).
 */
export async function destroy(onStep?: UpOptions["onStep"]): Promise<StepRun[]> {
  const applied = loadApplied();
  const deps = new Map(applied.map((a, i) => [a.name, a.dependsOn ?? applied.slice(0, i).map((x) => x.name)]));
  const byName = new Map(applied.map((a) => [a.name, a]));
  const layerOf = (a: Applied): number =>
    a.deleteLayer ??
    1 + Math.max(-1, ...(deps.get(a.name) ?? []).flatMap((d) => (byName.has(d) ? [layerOf(byName.get(d)!)] : [])));
  const layers = [...new Set(applied.map(layerOf))].sort((x, y) => y - x);
  const sessions = new Sessions();
  const runs: StepRun[] = [];
  const left = new Set(applied.map((a) => a.name));
  const t0 = Date.now();
  let failure: unknown;
  try {
    for (const layer of layers) {
      await Promise.all(
        applied
          .filter((a) => layerOf(a) === layer)
          .map(async (a) => {
            try {
              const d = await runDelete(sessions, a, t0, onStep);
              if (d) runs.push(d);
              left.delete(a.name);
              saveApplied(applied.filter((x) => left.has(x.name)));
            } catch (err) {
              failure ??= err;
            }
          }),
      );
      if (failure !== undefined) break;
    }
  } finally {
    await sessions.closeAll();
  }
  if (failure !== undefined) throw failure;
  fs.rmSync(STATE_FILE, { force: true });
  fs.rmSync(SIM_OUTPUTS_FILE, { force: true });
  return runs;
}
