import { createHash } from "node:crypto";
import { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { Client, type ClientChannel, type ConnectConfig } from "ssh2";
import { DIAL_ERROR_LIMIT, PER_DIAL_TIMEOUT_S } from "./connection";

/**
 * An SSH session with pulumi-command's semantics (provider/pkg/provider/remote/connection.go): a pinned host key
 * is compared byte for byte, one jump host (`proxy`) with its own pin, bounded dial retries, environment variables
 * sent as SSH "env" requests (so sshd's AcceptEnv decides, as in reality). Used by the CLI (disk-check, doctor)
 * and by the simulated testbed's engine, which runs the program's steps with it.
 */
export interface SshConnection {
  host: string;
  port?: number;
  user?: string;
  privateKey?: string;
  privateKeyPassword?: string;
  password?: string;
  /** authorized_keys format: "ssh-ed25519 AAAA..." */
  hostKey?: string;
  proxy?: Omit<SshConnection, "proxy">;
  /** Dials before giving up. Defaults to DIAL_ERROR_LIMIT (connection.ts). */
  dialErrorLimit?: number;
  /** Seconds per dial. Defaults to PER_DIAL_TIMEOUT_S (connection.ts). */
  perDialTimeout?: number;
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  stdin?: string;
  env?: Record<string, string>;
  onStdout?(chunk: string): void;
  onStderr?(chunk: string): void;
}

export interface SshSession {
  exec(command: string, opts?: ExecOptions): Promise<ExecResult>;
  dispose(): Promise<void>;
}

/** SSH keepalives: 5 s apart, 3 missed ones drop the connection. */
export const KEEPALIVE_INTERVAL_MS = 5000;
/**
 * Pauses between dials, as pulumi-command's dialWithRetry (provider/pkg/provider/remote/connection.go, v1.2.1)
 * gets them from pulumi's retry.Until defaults (sdk/go/common/util/retry/until.go): 100 ms, 1.5 times longer each
 * time, at most 5 s. Ten refused dials thus give up after ~8 s.
 */
export const DIAL_RETRY_FIRST_DELAY_MS = 100;
export const DIAL_RETRY_BACKOFF = 1.5;
export const DIAL_RETRY_MAX_DELAY_MS = 5000;
/** How long a disconnect waits for the peer to close before the socket is dropped. */
export const CLOSE_GRACE_MS = 2000;

/** The SHA256 fingerprint ssh-keygen -l prints, of an authorized_keys line or a raw key blob. */
export function fingerprint(key: string | Buffer): string {
  const blob = typeof key === "string" ? Buffer.from(key.trim().split(/\s+/)[1] ?? "", "base64") : key;
  return `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
}

export class HostKeyMismatchError extends Error {
  constructor(
    readonly host: string,
    readonly expectedFingerprint: string,
    readonly actualFingerprint: string,
  ) {
    super(
      `host ${host}: SSH host key mismatch: the spec pins ${expectedFingerprint}, the host presented ${actualFingerprint}. ` +
        "If the machine was reinstalled, update its hostKey in the stack (ssh-keyscan -t ed25519 <address>); " +
        "otherwise something is answering in its place. Nothing was run on it.",
    );
  }
}

export class SshConnectError extends Error {}

interface Dialed {
  client: Client;
  /** The forwarded channel through the jump host, when there is one. */
  sock?: ClientChannel;
  /** What the client talks over: its own TCP socket, or that channel. Destroying it drops the connection. */
  transport: Duplex;
}

function connectConfig(
  conn: Omit<SshConnection, "proxy">,
  label: string,
  onMismatch: (e: HostKeyMismatchError) => void,
) {
  const pinned = conn.hostKey ? Buffer.from(conn.hostKey.trim().split(/\s+/)[1] ?? "", "base64") : undefined;
  const config: ConnectConfig = {
    host: conn.host,
    port: conn.port ?? 22,
    username: conn.user ?? "root",
    privateKey: conn.privateKey,
    passphrase: conn.privateKeyPassword,
    password: conn.password,
    readyTimeout: (conn.perDialTimeout ?? PER_DIAL_TIMEOUT_S) * 1000,
    // A peer that vanishes without closing the TCP connection is noticed within ~15 s.
    keepaliveInterval: KEEPALIVE_INTERVAL_MS,
    keepaliveCountMax: 3,
    hostVerifier: (key: Buffer) => {
      if (pinned === undefined || key.equals(pinned)) return true;
      onMismatch(new HostKeyMismatchError(label, fingerprint(pinned), fingerprint(key)));
      return false;
    },
  };
  return config;
}

function dialOnce(config: ConnectConfig, sock?: ClientChannel): Promise<Dialed> {
  // The TCP socket is ours, not ssh2's, so that a disconnect the peer never answers can be cut (see closeClient).
  const transport: Duplex = sock ?? new Socket().connect({ host: config.host as string, port: config.port as number });
  return new Promise((resolve, reject) => {
    const client = new Client();
    client.once("ready", () => resolve({ client, sock, transport }));
    client.once("error", (err) => {
      client.end();
      transport.destroy();
      reject(err);
    });
    client.connect({ ...config, sock: transport as ConnectConfig["sock"] });
  });
}

/**
 * Ends a connection and waits until it is closed. ssh2's end() only half-closes the socket: a peer that vanished
 * (a host powered off, its link gone) never answers, and the socket would keep the process alive for the minutes
 * TCP retransmits. After `graceMs` the transport is destroyed.
 */
function closeClient(client: Client, transport: Duplex, graceMs = CLOSE_GRACE_MS): Promise<void> {
  if (transport.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    // A forwarded channel whose jump host is gone may never report "close" either: stop waiting all the same.
    const timer = setTimeout(() => {
      transport.destroy();
      done();
    }, graceMs);
    transport.once("close", done);
    client.end();
  });
}

async function dial(conn: Omit<SshConnection, "proxy">, label: string, via?: Client): Promise<Dialed> {
  const limit = conn.dialErrorLimit ?? DIAL_ERROR_LIMIT;
  let lastError: unknown;
  for (let attempt = 1; limit < 0 || attempt <= limit; attempt++) {
    let mismatch: HostKeyMismatchError | undefined;
    const config = connectConfig(conn, label, (e) => (mismatch = e));
    try {
      let sock: ClientChannel | undefined;
      if (via)
        sock = await new Promise<ClientChannel>((resolve, reject) =>
          via.forwardOut("127.0.0.1", 0, conn.host, conn.port ?? 22, (err, ch) => (err ? reject(err) : resolve(ch))),
        );
      return await dialOnce(config, sock);
    } catch (err) {
      if (mismatch) throw mismatch;
      lastError = err;
      // Authentication failures do not get better by retrying.
      if (/authentication methods failed/i.test(String(err))) break;
      if (limit >= 0 && attempt >= limit) break;
      const delay = Math.min(DIAL_RETRY_FIRST_DELAY_MS * DIAL_RETRY_BACKOFF ** (attempt - 1), DIAL_RETRY_MAX_DELAY_MS);
      await new Promise((r) => setTimeout(r, delay));
    }
  }
  throw new SshConnectError(
    `host ${label}: cannot connect to ${conn.user ?? "root"}@${conn.host}:${conn.port ?? 22}` +
      `${via ? " through its jump host" : ""}: ${(lastError as Error)?.message ?? lastError}`,
  );
}

/** Opens a session (through the jump host if `proxy` is set). `label` names the host in errors. */
export async function openSession(conn: SshConnection, opts: { label?: string } = {}): Promise<SshSession> {
  const label = opts.label ?? conn.host;
  let jumped: Dialed | undefined;
  if (conn.proxy) jumped = await dial(conn.proxy, `${label}'s jump host ${conn.proxy.host}`);
  const jump = jumped?.client;
  let dialed: Dialed;
  try {
    dialed = await dial(conn, label, jump);
  } catch (err) {
    if (jumped) await closeClient(jumped.client, jumped.transport);
    throw err;
  }
  const { client: target, sock } = dialed;
  // A connection that drops (or whose jump host drops) fails every command still running on it.
  const pending = new Set<(err: Error) => void>();
  const dropped = (why: string) => () => {
    for (const fail of pending)
      fail(new SshConnectError(`host ${label}: the connection closed before the command finished (${why})`));
    pending.clear();
  };
  target.on("close", dropped("connection closed"));
  target.on("error", (e: Error) => dropped(e.message)());
  jump?.on("close", dropped("jump host connection closed"));
  // Through a jump host the target's transport is a forwarded channel, whose end ssh2 does not report as the
  // target connection's close: watch the channel itself.
  sock?.on("close", dropped("the connection through the jump host closed"));
  // When the target's sshd dies behind a jump host, the jump host relays only the end of its stream: ssh2 then
  // emits "end" on the channel and on the target connection, and never "close" (a command on it used to hang).
  // An SSH server never half-closes its transport, so its end is the connection's end.
  sock?.on("end", dropped("the connection through the jump host ended"));
  target.on("end", dropped("connection ended"));
  return {
    exec: (command, o = {}) =>
      new Promise<ExecResult>((resolve, reject) => {
        const fail = (e: Error) => reject(e);
        pending.add(fail);
        target.exec(command, { env: o.env }, (err, stream) => {
          if (err) {
            pending.delete(fail);
            return reject(new SshConnectError(`host ${label}: cannot start a command: ${err.message}`));
          }
          let stdout = "";
          let stderr = "";
          let code: number | null = null;
          stream.on("data", (d: Buffer) => {
            stdout += d.toString("utf8");
            o.onStdout?.(d.toString("utf8"));
          });
          stream.stderr.on("data", (d: Buffer) => {
            stderr += d.toString("utf8");
            o.onStderr?.(d.toString("utf8"));
          });
          stream.on("exit", (c: number | null) => (code = c));
          stream.on("close", () => {
            pending.delete(fail);
            if (code === null)
              reject(new SshConnectError(`host ${label}: the connection closed before "${command}" finished`));
            else resolve({ code, stdout, stderr });
          });
          stream.end(o.stdin ?? "");
        });
      }),
    // The target first (its disconnect travels through the jump host), then the jump host.
    dispose: async () => {
      await closeClient(target, dialed.transport);
      if (jumped) await closeClient(jumped.client, jumped.transport);
    },
  };
}
