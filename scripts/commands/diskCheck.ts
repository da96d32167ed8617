import { spawn } from "node:child_process";
import * as path from "node:path";
import type { Command } from "commander";
import { CliError, EXIT, finish } from "../cli";
import { type HostSpec, loadSpec } from "../../components/spec";
import { privilegeOf } from "../../components/remote/host";
import { runCommand, stdinFor } from "../../components/remote/script";
import { type ExecResult, type SshConnection, openSession } from "../../components/remote/session";
import { FIO_EXIT, type FioResult, fioScript, parseFioJson } from "../../components/storage/fio";
import {
  DEFAULT_FAIL_P99_MS,
  DEFAULT_FIO_SIZE_MIB,
  DEFAULT_WARN_P99_MS,
  type DiskThresholds,
  explainVerdict,
  verdict,
} from "../../components/storage/thresholds";
import { type StackOptions, loadStackSettings, withStackOptions } from "../lib/stackArgs";

/** Runs a script somewhere (here, or on a host over SSH) and returns its result. */
export type ScriptRunner = (script: string) => Promise<ExecResult>;

/** Runs the script with bash on this machine. */
export const runLocally: ScriptRunner = (script) =>
  new Promise((resolve, reject) => {
    const child = spawn("bash", ["-s"], { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? 1, stdout, stderr }));
    child.stdin.end(script);
  });

/** The SSH connection for a host of the spec, as the program builds it (pinned key, jump host). */
async function connectionOf(spec: ReturnType<typeof loadSpec>, host: HostSpec): Promise<SshConnection> {
  const base = (h: HostSpec, address: string, hostKey?: string): SshConnection => ({
    host: address,
    port: h.port,
    user: h.user,
    privateKey: h.privateKey,
    hostKey,
  });
  if (host.kind === "machine") {
    const jump = host.jump ? spec.hosts[host.jump] : undefined;
    return {
      ...base(host, host.address as string, host.hostKey),
      proxy: jump ? base(jump, jump.address as string, jump.hostKey) : undefined,
    };
  }
  // A VM: its address must be static in the spec, and its host key is read from Incus over the hypervisor's
  // pinned connection, exactly as the program pins it.
  const hv = spec.hosts[host.vm?.hypervisor as string];
  if (host.address === undefined)
    throw new CliError(
      `host ${host.name} is a VM whose address Incus assigns; set vms.${host.name}.address, or measure from the hypervisor`,
    );
  const hvConn = base(hv, hv.address as string, hv.hostKey);
  const session = await openSession(hvConn, { label: hv.name });
  try {
    const cli = hv.hypervisor?.kind === "lxd" ? "lxc" : "incus";
    const privilege = privilegeOf(hv);
    const r = await session.exec(runCommand(privilege, "create"), {
      stdin: stdinFor(
        privilege,
        `${cli} exec ${host.name} -- cat /etc/ssh/ssh_host_ed25519_key.pub\n`,
        hv.sudoPassword,
      ),
    });
    if (r.code !== 0) throw new CliError(`host ${hv.name}: cannot read VM ${host.name}'s host key: ${r.stderr.trim()}`);
    return { ...base(host, host.address, r.stdout.trim().split(/\s+/).slice(0, 2).join(" ")), proxy: hvConn };
  } finally {
    await session.dispose();
  }
}

/** Runs scripts on a host of the spec with the privilege the spec gives it (sudo, with or without password). */
async function remoteRunner(spec: ReturnType<typeof loadSpec>, hostName: string): Promise<ScriptRunner> {
  const host = spec.hosts[hostName];
  if (host === undefined)
    throw new CliError(`--host ${hostName} is not a host of this stack (known: ${Object.keys(spec.hosts).join(", ")})`);
  const conn = await connectionOf(spec, host);
  const privilege = privilegeOf(host);
  return async (script) => {
    const session = await openSession(conn, { label: hostName });
    try {
      return await session.exec(runCommand(privilege, "create"), {
        stdin: stdinFor(privilege, script, host.sudoPassword),
      });
    } finally {
      await session.dispose();
    }
  };
}

export interface DiskCheckReport extends FioResult {
  where: string;
  path: string;
  verdict: "pass" | "warn" | "fail";
  explanation: string;
  thresholds: DiskThresholds;
  seconds: number;
}

/** Runs the etcd fio job through `run`, reporting progress; throws CliError (exit 2) when it cannot measure. */
export async function diskCheck(opts: {
  path: string;
  sizeMiB: number;
  thresholds: DiskThresholds;
  where: string;
  run: ScriptRunner;
  progress?: (seconds: number) => void;
}): Promise<DiskCheckReport> {
  const started = Date.now();
  const timer = opts.progress ? setInterval(() => opts.progress?.((Date.now() - started) / 1000), 1000) : undefined;
  let r: ExecResult;
  try {
    r = await opts.run(fioScript({ path: opts.path, sizeMiB: opts.sizeMiB }));
  } finally {
    clearInterval(timer);
  }
  if (r.code !== 0) {
    const known = Object.values(FIO_EXIT) as number[];
    const why = r.stderr.trim().split("\n").pop() ?? `exit ${r.code}`;
    throw new CliError(`${opts.where}: ${known.includes(r.code) ? why : `the measurement failed: ${why}`}`);
  }
  const result = parseFioJson(r.stdout);
  return {
    ...result,
    where: opts.where,
    path: opts.path,
    verdict: verdict(result.p99Ms, opts.thresholds),
    explanation: explainVerdict(result.p99Ms, opts.thresholds),
    thresholds: opts.thresholds,
    seconds: (Date.now() - started) / 1000,
  };
}

/** The short table a person reads. */
export function renderReport(r: DiskCheckReport): string {
  const ms = (x: number) => `${x.toFixed(2).padStart(9)} ms`;
  return [
    `disk-check ${r.where}:${r.path} (${r.fioVersion}, ${r.syncs} writes of 2300 bytes, each followed by fdatasync, ${r.seconds.toFixed(1)} s)`,
    `  p50   ${ms(r.p50Ms)}`,
    `  p99   ${ms(r.p99Ms)}   warn above ${r.thresholds.warnMs} ms, fail above ${r.thresholds.failMs} ms`,
    `  p99.9 ${ms(r.p999Ms)}`,
    `  max   ${ms(r.maxMs)}`,
    `  iops  ${r.iops.toFixed(0).padStart(9)}`,
    `verdict: ${r.verdict}: ${r.explanation}`,
    "",
  ].join("\n");
}

export function register(program: Command): void {
  withStackOptions(
    program
      .command("disk-check")
      .description(
        "etcd-style fdatasync latency at a directory (fio: 2300-byte writes, fdatasync each), with a verdict",
      )
      .requiredOption("-p, --path <dir>", "the directory to measure (where etcd writes)")
      .option("--host <name>", "measure on this host of the stack (with --stack or --file) instead of here")
      .option("--size-mib <n>", `MiB to write (default ${DEFAULT_FIO_SIZE_MIB}, etcd's job)`, Number)
      .option("--warn-ms <n>", `p99 above this warns (default ${DEFAULT_WARN_P99_MS})`, Number)
      .option("--fail-ms <n>", `p99 above this fails (default ${DEFAULT_FAIL_P99_MS})`, Number)
      .option("--json", "print one JSON object"),
  ).action(
    async (
      opts: StackOptions & {
        path: string;
        host?: string;
        sizeMib?: number;
        warnMs?: number;
        failMs?: number;
        json?: boolean;
      },
    ) => {
      let run: ScriptRunner = runLocally;
      let where = "localhost";
      let thresholds: DiskThresholds = { warnMs: DEFAULT_WARN_P99_MS, failMs: DEFAULT_FAIL_P99_MS };
      let sizeMiB = DEFAULT_FIO_SIZE_MIB;
      if (opts.host !== undefined) {
        const { file, raw } = loadStackSettings(opts);
        let spec: ReturnType<typeof loadSpec>;
        try {
          spec = loadSpec(raw, { baseDir: path.dirname(path.dirname(file)) });
        } catch (err) {
          throw new CliError((err as Error).message);
        }
        thresholds = { warnMs: spec.diskGate.warnMs, failMs: spec.diskGate.failMs };
        sizeMiB = spec.diskGate.sizeMiB;
        try {
          run = await remoteRunner(spec, opts.host);
        } catch (err) {
          throw err instanceof CliError ? err : new CliError((err as Error).message);
        }
        where = opts.host;
      } else if (opts.stack !== undefined || opts.file !== undefined)
        throw new CliError("--stack/--file need --host NAME (which host of the stack to measure)");
      thresholds = { warnMs: opts.warnMs ?? thresholds.warnMs, failMs: opts.failMs ?? thresholds.failMs };
      for (const [flag, v] of [
        ["--size-mib", opts.sizeMib],
        ["--warn-ms", opts.warnMs],
        ["--fail-ms", opts.failMs],
      ] as const)
        if (v !== undefined && !(v > 0)) throw new CliError(`${flag}: ${v} is not a positive number`);
      const what = `measuring fdatasync latency at ${where}:${opts.path}...`;
      // A live counter on a terminal; one line in a log.
      const progress = process.stderr.isTTY
        ? (s: number) => process.stderr.write(`\r${what} ${s.toFixed(0)} s`)
        : undefined;
      if (!process.stderr.isTTY) process.stderr.write(`${what}`);
      let report: DiskCheckReport;
      try {
        report = await diskCheck({
          path: opts.path,
          sizeMiB: opts.sizeMib ?? sizeMiB,
          thresholds,
          where,
          run,
          progress,
        });
      } catch (err) {
        throw err instanceof CliError ? err : new CliError(`${where}: ${(err as Error).message}`);
      } finally {
        process.stderr.write("\n");
      }
      process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : renderReport(report));
      finish(report.verdict === "pass" ? EXIT.ok : EXIT.verdict);
    },
  );
}
