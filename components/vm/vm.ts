import type * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import type { HostSpec } from "../spec";
import { scriptStep } from "../remote/scriptStep";
import { RemoteHost } from "../remote/host";
import { parseResult } from "../remote/script";
import { type IncusInstance, addressFromLaunch, cloudInitUserData, launchScript, publicKeyOf } from "./incus";

export interface VirtualMachineArgs {
  /** The VM's spec (kind "vm"). */
  host: HostSpec;
  /** The hypervisor it runs on; also its jump host. */
  hypervisor: RemoteHost;
  /** Steps that must finish on the hypervisor first (the ZFS tuning of the pool the disk lands on). */
  dependsOn?: pulumi.Input<pulumi.Resource>[];
}

/**
 * The public key cloud-init injects. A preview (or `testbed plan`) may run where the key file is absent or the
 * key is still encrypted; it then shows a placeholder, and `pulumi up` fails loudly instead.
 */
function publicKeyForPlan(host: HostSpec): string {
  try {
    return publicKeyOf(host.privateKey);
  } catch (err) {
    if (pulumi.runtime.isDryRun()) return `(public key of ${host.name}'s private key)`;
    throw new Error(`VM ${host.name}: ${(err as Error).message}`);
  }
}

/**
 * A VM on an Incus (or LXD) hypervisor: launched with cloud-init injecting the SSH key, waited for, its address
 * and SSH host key read over the hypervisor's pinned connection; `host` then reaches it with the hypervisor as
 * jump host.
 */
export class VirtualMachine extends pulumi.ComponentResource {
  readonly launch: command.remote.Command;
  readonly address: pulumi.Output<string>;
  readonly hostKey: pulumi.Output<string>;
  readonly host: RemoteHost;

  constructor(name: string, args: VirtualMachineArgs, opts?: pulumi.ComponentResourceOptions) {
    super("testbed:vm:VirtualMachine", name, {}, opts);
    const { host, hypervisor } = args;
    const vm = host.vm;
    const kind = hypervisor.spec.hypervisor?.kind;
    if (vm === undefined || kind === undefined) throw new Error(`${name}: not a VM on a hypervisor host`);
    const userData = cloudInitUserData(host.user, publicKeyForPlan(host));
    // A bad launch (output that does not parse, no NIC by the VM's MAC, no address on it) is the launch step's
    // error: scriptStep makes it a ResourceError tied to the step, which Pulumi shows under it.
    const launched = scriptStep(
      hypervisor,
      `vm-${name}`,
      launchScript(name, vm, kind, userData),
      (out) => {
        const result = parseResult(out).output as { hostKey: string; instances: IncusInstance[] } | undefined;
        if (result === undefined) throw new Error(`VM ${name}: the launch step printed no address or host key`);
        return { address: addressFromLaunch(host, result), hostKey: result.hostKey };
      },
      { parent: this, dependsOn: args.dependsOn },
    );
    this.launch = launched.step;
    this.address = launched.parsed.address;
    this.hostKey = launched.parsed.hostKey;
    this.host = new RemoteHost(
      name,
      { host, address: this.address, hostKey: this.hostKey, jump: hypervisor.connection },
      { parent: this },
    );
    this.registerOutputs({ address: this.address, hostKey: this.hostKey });
  }
}
