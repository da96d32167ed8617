import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import type { HostSpec } from "../spec";
import { hostConnection } from "./connection";
import { type StepScript, stepProgram, privilegeOf, readShellFile, runCommand, stdinFor } from "./script";

export type ConnectionArgs = command.types.input.remote.ConnectionArgs;

/** The arch names `uname -m` prints for each spec arch. */
export const UNAME_ARCH: Record<HostSpec["arch"], string[]> = {
  amd64: ["x86_64"],
  arm64: ["aarch64", "arm64"],
};

// privilegeOf lives with the script convention (no Pulumi import), so the CLI reaches hosts without loading Pulumi.
export { privilegeOf } from "./script";

/**
 * The pulumi-command connection for a host. The private key is a secret; the host key is pinned; a host behind a
 * jump host gets `proxy` (one hop, as pulumi-command supports). `address` and `hostKey` may be outputs (VMs).
 */
export function connectionFor(
  host: HostSpec,
  opts: { address?: pulumi.Input<string>; hostKey?: pulumi.Input<string>; jump?: ConnectionArgs } = {},
): pulumi.Output<ConnectionArgs> {
  const conn = hostConnection(host, { address: opts.address, hostKey: opts.hostKey, proxy: opts.jump });
  return pulumi.output({ ...conn, privateKey: pulumi.secret(conn.privateKey) }) as pulumi.Output<ConnectionArgs>;
}

/**
 * The preflight step (preflight.sh): facts about the host, and a clear failure when it is not what the spec says
 * (not root, another architecture, a sudo password the host never asks for).
 */
export function preflightScript(host: Pick<HostSpec, "name" | "arch" | "sudoPassword" | "user">): StepScript {
  return {
    values: {
      host_name: host.name,
      login_user: host.user,
      spec_arch: host.arch,
      uname_machines: UNAME_ARCH[host.arch],
      check_sudo_password: privilegeOf(host) === "sudo-password",
    },
    body: readShellFile(__dirname, "preflight.sh"),
  };
}

export interface RemoteHostArgs {
  host: HostSpec;
  /** For VMs: the address and host key read from the hypervisor after launch. */
  address?: pulumi.Input<string>;
  hostKey?: pulumi.Input<string>;
  /** The jump host's connection (VMs behind the NUC). */
  jump?: pulumi.Input<ConnectionArgs>;
}

export interface StepOptions {
  /** The component that owns the step. Defaults to the host. */
  parent?: pulumi.Resource;
  dependsOn?: pulumi.Input<pulumi.Resource>[];
  /** Set when stdout carries a secret (a token, a kubeconfig): it is then never logged and stored encrypted. */
  secretOutput?: boolean;
  /** Dials this step may take before it fails, for the first step after a reboot. Defaults to DIAL_ERROR_LIMIT. */
  dialErrorLimit?: number;
}

/**
 * A machine (or VM) the provisioner works on over SSH: its connection, a first "reachable" step that checks
 * it is the host the spec describes, and `step()`, which runs a bundled script there after that check.
 */
export class RemoteHost extends pulumi.ComponentResource {
  readonly name: string;
  readonly spec: HostSpec;
  readonly connection: pulumi.Output<ConnectionArgs>;
  readonly reachable: command.remote.Command;
  /** JSON facts printed by the preflight (arch, os, kernel). */
  readonly facts: pulumi.Output<string>;

  constructor(name: string, args: RemoteHostArgs, opts?: pulumi.ComponentResourceOptions) {
    super("testbed:remote:Host", name, {}, opts);
    this.name = name;
    this.spec = args.host;
    const jump = args.jump === undefined ? undefined : pulumi.output(args.jump);
    this.connection = jump
      ? jump.apply((j) => connectionFor(args.host, { address: args.address, hostKey: args.hostKey, jump: j }))
      : connectionFor(args.host, { address: args.address, hostKey: args.hostKey });
    this.reachable = this.step("reachable", preflightScript(args.host), { parent: this });
    this.facts = this.reachable.stdout;
    this.registerOutputs({ connection: this.connection, facts: this.facts });
  }

  /**
   * Runs a step's program on this host as `${host}/${name}` (the plan groups steps by that prefix). It depends on the host's "reachable" step (and on
   * `dependsOn`); the script travels on stdin, so secrets inside it never appear in a command line.
   */
  step(name: string, script: pulumi.Input<StepScript>, opts: StepOptions = {}): command.remote.Command {
    const stepName = `${this.name}/${name}`;
    const privilege = privilegeOf(this.spec);
    const stdin = pulumi
      .output(script)
      .apply((s) => stdinFor(privilege, stepProgram(stepName, s), this.spec.sudoPassword));
    const secretStdin = this.spec.sudoPassword !== undefined ? pulumi.secret(stdin) : stdin;
    const dependsOn = name === "reachable" ? (opts.dependsOn ?? []) : [this.reachable, ...(opts.dependsOn ?? [])];
    return new command.remote.Command(
      stepName,
      {
        connection:
          opts.dialErrorLimit === undefined
            ? this.connection
            : this.connection.apply((c) => ({ ...c, dialErrorLimit: opts.dialErrorLimit })),
        create: runCommand(privilege, "create"),
        delete: runCommand(privilege, "delete"),
        stdin: secretStdin,
        // No `triggers`, on purpose: pulumi-command replaces a step whose triggers change, and Pulumi replaces
        // create-before-delete, so the old step's delete (an uninstall) would run after the new create. A value that
        // must re-run a step goes into its script instead: a changed stdin is an update, which re-runs create.
        // Steps pass values on stdout; never echo a secret one into Pulumi's logs.
        logging: opts.secretOutput ? "none" : "stdoutAndStderr",
        addPreviousOutputInEnv: false,
      },
      {
        parent: opts.parent ?? this,
        dependsOn,
        additionalSecretOutputs: opts.secretOutput ? ["stdout"] : undefined,
      },
    );
  }
}
