import { spawn } from "node:child_process";
import * as path from "node:path";
import { CliError } from "../cli";
import { type HostSpec, type TestbedSpec, loadSpec } from "../../components/spec";
import { privilegeOf, runCommand, stdinFor } from "../../components/remote/script";
import { hostConnection } from "../../components/remote/connection";
import { cliFor, vmHostKeyCommand } from "../../components/vm/incus";
import { type ExecResult, type SshConnection, openSession } from "../../components/remote/session";
import { type StackOptions, loadStackSettings } from "./stackArgs";

/** The validated spec of --stack/--file, with spec errors as CLI errors (exit 2). */
export function loadStackSpec(opts: StackOptions): TestbedSpec {
  const { file, raw } = loadStackSettings(opts);
  try {
    return loadSpec(raw, { baseDir: path.dirname(path.dirname(file)) });
  } catch (err) {
    throw new CliError((err as Error).message);
  }
}

/** Runs a script somewhere (here, or on a host over SSH) and returns its result; stderr can be followed as it comes. */
export type ScriptRunner = (script: string, opts?: { onStderr?(chunk: string): void }) => Promise<ExecResult>;

/** Runs scripts with bash on this machine, optionally behind a command prefix (e.g. strace injecting faults). */
export function localRunner(prefix: string[] = []): ScriptRunner {
  const argv = [...prefix, "bash", "-s"];
  return (script, opts) =>
    new Promise((resolve, reject) => {
      const child = spawn(argv[0], argv.slice(1), { stdio: ["pipe", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
      child.stderr.on("data", (d: Buffer) => {
        stderr += d.toString();
        opts?.onStderr?.(d.toString());
      });
      child.on("error", reject);
      child.on("close", (code) => resolve({ code: code ?? 1, stdout, stderr }));
      child.stdin.end(script);
    });
}

/** Runs the script with bash on this machine. */
export const runLocally: ScriptRunner = localRunner();

/** The SSH connection for a host of the spec, as the program builds it (pinned key, jump host). */
export async function connectionOf(spec: TestbedSpec, host: HostSpec): Promise<SshConnection> {
  if (host.kind === "machine") {
    const jump = host.jump ? spec.hosts[host.jump] : undefined;
    return hostConnection(host, { proxy: jump ? hostConnection(jump) : undefined });
  }
  // A VM: its address must be static in the spec, and its host key is read from Incus over the hypervisor's
  // pinned connection, exactly as the program pins it.
  const hv = spec.hosts[host.vm?.hypervisor as string];
  if (host.address === undefined)
    throw new CliError(
      `host ${host.name} is a VM whose address Incus assigns; set vms.${host.name}.address, or measure from the hypervisor`,
    );
  const hvConn = hostConnection(hv);
  const session = await openSession(hvConn, { label: hv.name });
  try {
    const cli = cliFor(hv.hypervisor?.kind ?? "incus");
    const privilege = privilegeOf(hv);
    const r = await session.exec(runCommand(privilege, "create"), {
      stdin: stdinFor(privilege, `${vmHostKeyCommand(cli, host.name)}\n`, hv.sudoPassword),
    });
    if (r.code !== 0) throw new CliError(`host ${hv.name}: cannot read VM ${host.name}'s host key: ${r.stderr.trim()}`);
    return hostConnection(host, { hostKey: r.stdout.trim(), proxy: hvConn });
  } finally {
    await session.dispose();
  }
}

/** Runs scripts on a host of the spec with the privilege the spec gives it (sudo, with or without password). */
export async function remoteRunner(spec: TestbedSpec, hostName: string): Promise<ScriptRunner> {
  const host = spec.hosts[hostName];
  if (host === undefined)
    throw new CliError(`--host ${hostName} is not a host of this stack (known: ${Object.keys(spec.hosts).join(", ")})`);
  const conn = await connectionOf(spec, host);
  const privilege = privilegeOf(host);
  return async (script, opts) => {
    const session = await openSession(conn, { label: hostName });
    try {
      return await session.exec(runCommand(privilege, "create"), {
        stdin: stdinFor(privilege, script, host.sudoPassword),
        onStderr: opts?.onStderr,
      });
    } finally {
      await session.dispose();
    }
  };
}
