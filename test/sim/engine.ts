import * as fs from "node:fs";
import * as path from "node:path";
import { type SshConnection, type SshSession, openSession } from "../../components/remote/session";
import { readStackConfig } from "../../components/spec";
import { type NewResourceRequest, type RecordedResource, runProgram } from "../../scripts/lib/mockRun";
import { REPO, SIM_DIR, SIM_STACK, cutConnections } from "./hosts";
import { spawn } from "node:child_process";
import * as os from "node:os";

/**
 * The test engine: runs the real program (index.ts) with the sim stack under Pulumi's mock runtime, and executes
 * each `command:remote:Command` for real over SSH (pulumi-command's connection semantics: pinned host key, one
 * jump host, the same command line and stdin) as soon as the mock runtime hands it over, which is when its
 * dependencies have finished. Kubernetes objects are recorded. Every executed step is saved, so `destroy` can run
 * the `delete` commands in reverse order (the mock runtime never calls delete).
 */

export interface StepRun {
  name: string;
  host: string;
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
  connection: SshConnection;
  delete?: string;
  stdin?: string;
}

/** When the "connection cut" fault strikes after a step started. */
export const CUT_AFTER_MS = 300;

export const STATE_FILE = path.join(SIM_DIR, "engine-state.json");

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

/** One SSH connection per host (and jump host pair), reused by its steps, counted for the benchmark. */
class Sessions {
  private readonly open = new Map<string, Promise<SshSession>>();
  readonly opened: Record<string, number> = {};

  get(conn: SshConnection, label: string): Promise<SshSession> {
    const key = `${conn.proxy?.host ?? ""}>${conn.user}@${conn.host}:${conn.port ?? 22}:${conn.hostKey ?? ""}`;
    let s = this.open.get(key);
    if (s === undefined) {
      this.opened[label] = (this.opened[label] ?? 0) + 1;
      s = openSession(conn, { label });
      s.catch(() => this.open.delete(key));
      this.open.set(key, s);
    }
    return s;
  }

  /** Forgets a session that failed mid-command, so the next step dials again. */
  drop(conn: SshConnection): void {
    for (const [k, s] of this.open)
      if (k.includes(`@${conn.host}:`)) {
        void s.then((x) => x.dispose()).catch(() => undefined);
        this.open.delete(k);
      }
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.open.values()].map((s) => s.then((x) => x.dispose()).catch(() => undefined)));
    this.open.clear();
  }
}

export interface UpOptions {
  /** Run one step at a time (the benchmark's serial baseline). */
  serial?: boolean;
  /** Called as each step starts and ends. */
  onStep?: (event: "start" | "end", name: string, detail?: string) => void;
  stack?: string;
  /** Fault injection: cut the host's SSH connections in the middle of this step (CUT_AFTER_MS after it starts). */
  cutAt?: string;
}

function hostOf(name: string): string {
  return name.includes("/") ? name.slice(0, name.indexOf("/")) : "(local)";
}

/** Provisions the sim stack in this process: the real program, every step run over SSH. One run per process. */
export async function upInProcess(opts: UpOptions = {}): Promise<EngineResult> {
  const sessions = new Sessions();
  const steps: StepRun[] = [];
  const applied: Applied[] = loadApplied();
  const t0 = Date.now();
  let queue = Promise.resolve();
  const newResource = async (req: NewResourceRequest) => {
    if (req.type !== "command:remote:Command") {
      // Components and Kubernetes objects: recorded by runProgram, nothing to execute.
      return { state: req.rawInputs };
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
      try {
        const session = await sessions.get(conn, host);
        // Fault injection: cut the host's connections while the step runs (300 ms in: a measurement takes longer).
        const timer = opts.cutAt === req.name ? setTimeout(() => cutConnections(host), CUT_AFTER_MS) : undefined;
        try {
          result = await session.exec(inputs.create, { stdin: inputs.stdin });
        } finally {
          clearTimeout(timer);
        }
      } catch (err) {
        sessions.drop(conn);
        throw new StepError(`step ${req.name} on host ${host}: ${(err as Error).message}`);
      }
      if (result.code !== 0)
        throw new StepError(
          `step ${req.name} on host ${host} failed (exit ${result.code}):\n${result.stderr.trim().split("\n").slice(-8).join("\n")}`,
        );
      const line = result.stdout.split("\n").find((l) => /^TESTBED (changed|unchanged)/.test(l)) ?? "";
      const m = /^TESTBED (changed|unchanged) ?(.*)$/.exec(line);
      steps.push({
        name: req.name,
        host,
        changed: m?.[1] === "changed",
        detail: m?.[2] ?? "",
        startMs,
        endMs: Date.now() - t0,
      });
      opts.onStep?.("end", req.name, line);
      // The latest inputs win, as in Pulumi's state: a delete must use the current connection and script.
      const entry = { name: req.name, connection: conn, delete: inputs.delete, stdin: inputs.stdin };
      const i = applied.findIndex((a) => a.name === req.name);
      if (i >= 0) applied[i] = entry;
      else applied.push(entry);
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
  try {
    const config = readStackConfig(opts.stack ?? SIM_STACK);
    const { resources, outputs } = await runProgram({
      stack: "sim",
      config,
      projectDir: REPO,
      preview: false,
      newResource,
    });
    return { steps, outputs, resources, wallMs: Date.now() - t0, sessionsPerHost: { ...sessions.opened } };
  } finally {
    await sessions.closeAll();
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
  return new Promise((resolve, reject) => {
    const child = spawn("node", args, { stdio: ["ignore", "ignore", "pipe"] });
    let buffer = "";
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => {
      buffer += d.toString();
      let nl: number;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        const m = /^STEP (start|end) (\S+) ?(.*)$/.exec(line);
        if (m) opts.onStep?.(m[1] as "start" | "end", m[2], m[3]);
        else stderr += `${line}\n`;
      }
    });
    child.on("close", () => {
      let out: { result?: EngineResult; error?: string; ran?: StepRun[] } = {};
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

/** Runs every applied step's delete, newest first (a reverse topological order), then forgets them. */
export async function destroy(onStep?: UpOptions["onStep"]): Promise<StepRun[]> {
  const applied = loadApplied();
  const sessions = new Sessions();
  const runs: StepRun[] = [];
  const t0 = Date.now();
  try {
    for (const a of [...applied].reverse()) {
      if (!a.delete) continue;
      onStep?.("start", a.name);
      const session = await sessions.get(a.connection, hostOf(a.name));
      const r = await session.exec(a.delete, { stdin: a.stdin });
      if (r.code !== 0) throw new StepError(`delete of ${a.name} failed (exit ${r.code}): ${r.stderr.trim()}`);
      const m = /^TESTBED (changed|unchanged) ?(.*)$/m.exec(r.stdout);
      runs.push({
        name: a.name,
        host: hostOf(a.name),
        changed: m?.[1] === "changed",
        detail: m?.[2] ?? "",
        startMs: 0,
        endMs: Date.now() - t0,
      });
      onStep?.("end", a.name, m?.[0]);
      saveApplied(applied.filter((x) => !runs.some((d) => d.name === x.name)));
    }
  } finally {
    await sessions.closeAll();
  }
  fs.rmSync(STATE_FILE, { force: true });
  return runs;
}
