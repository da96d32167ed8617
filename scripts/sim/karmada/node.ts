/**
 * Where the sim's double of the Karmada Release (release.ts) runs Karmada's processes: "the cluster's node", the
 * one the chart's values pin etcd to. The engine passes one that enters a sim VM's namespaces; the tests pass
 * localNode, which runs here with a temporary directory as the node's `/`.
 */
import { spawn } from "node:child_process";

export interface KarmadaNode {
  /** The node's name: what values.etcd.internal.nodeSelector["kubernetes.io/hostname"] names. */
  name: string;
  /** The address this process reaches the node at (its NodePorts, etcd's client port). */
  address: string;
  /**
   * The prefix that turns a path of the node (the chart's hostPath /var/lib/karmada-system/karmada-etcd, say) into
   * the path the commands given to run and spawn see: "" on a VM (the commands run inside its mount namespace), a
   * temporary directory in tests.
   */
  root: string;
  /**
   * Runs argv on the node to completion with `input` on its stdin; resolves its stdout, rejects on a non-zero exit
   * with a message that ends with its stderr.
   */
  run(argv: string[], input?: string): Promise<string>;
  /**
   * Starts argv on the node detached (its own session; it outlives this process), stdout and stderr appended to
   * `logFile` (created 0600), and resolves its pid as the node's `kill` sees it. The command must be exec'd, not
   * forked: the pid is the one that gets signals.
   */
  spawn(argv: string[], logFile: string): Promise<number>;
}

/**
 * A node whose commands run as `[...prefix, ...argv]` on this machine (prefix [] runs them here; `nsenter -t <pid>
 * -n -m --` runs them in a sim host's namespaces, nsenter exec'ing the command so the pid stays the command's).
 */
export function commandNode(name: string, address: string, root: string, prefix: string[] = []): KarmadaNode {
  return {
    name,
    address,
    root,
    run: (argv, input) =>
      new Promise((resolve, reject) => {
        const [cmd, ...args] = [...prefix, ...argv];
        const child = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"] });
        let out = "";
        let err = "";
        child.stdout.on("data", (d: Buffer) => (out += d.toString()));
        child.stderr.on("data", (d: Buffer) => (err += d.toString()));
        child.on("error", reject);
        // A command that exits without reading its stdin closes the pipe: its exit code tells, not EPIPE.
        child.stdin.on("error", () => undefined);
        child.on("close", (code) =>
          code === 0 ? resolve(out) : reject(new Error(`${argv[0]} exited ${code}: ${err.trim()}`)),
        );
        child.stdin.end(input ?? "");
      }),
    spawn: async (argv, logFile) => {
      // The log is opened by a shell on the node (its mount namespace, its paths), which then execs the command.
      const script = 'umask 077 && mkdir -p -- "$(dirname -- "$0")" && exec "$@" >>"$0" 2>&1';
      const [cmd, ...args] = [...prefix, "sh", "-c", script, logFile, ...argv];
      const child = spawn(cmd, args, { detached: true, stdio: "ignore" });
      const pid = await new Promise<number>((resolve, reject) => {
        child.once("error", reject);
        child.once("spawn", () => resolve(child.pid ?? 0));
      });
      child.unref();
      return pid;
    },
  };
}

/** A node that is this machine, with `root` (a temporary directory) as its `/`: for tests. */
export function localNode(name: string, root: string, address = "127.0.0.1"): KarmadaNode {
  return commandNode(name, address, root);
}

/**
 * A node that is a sim host (a network and a mount namespace, scripts/sim/hosts.ts): its commands run through
 * `nsenter -t <pid> -n -m`, where `pid` is a process inside it (its sshd's). No pid namespace is entered, so nsenter
 * execs the command and the pids are this machine's.
 */
export function nsenterNode(name: string, address: string, pid: number): KarmadaNode {
  return commandNode(name, address, "", ["nsenter", "-t", String(pid), "-n", "-m", "--"]);
}
