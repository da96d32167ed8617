import * as pulumi from "@pulumi/pulumi";
import type { TestbedSpec } from "./spec";
import { RemoteHost } from "./remote/host";
import { VirtualMachine } from "./vm/vm";
import { ZfsTuning } from "./storage/zfs";
import { K3sCluster } from "./k3s/k3s";

export interface TestbedArgs {
  spec: TestbedSpec;
}

/**
 * The whole testbed, composed from the spec: one RemoteHost per machine (each first proves it is reachable and
 * is what the spec says), the VMs on their hypervisors, then storage, k3s, Karmada and vAccel on top.
 * Ordering comes only from data dependencies and dependsOn, so independent hosts proceed in parallel.
 */
export class Testbed extends pulumi.ComponentResource {
  readonly hosts: Record<string, RemoteHost> = {};
  readonly vms: Record<string, VirtualMachine> = {};
  readonly zfs: Record<string, ZfsTuning> = {};
  readonly clusters: Record<string, K3sCluster> = {};

  constructor(name: string, args: TestbedArgs, opts?: pulumi.ComponentResourceOptions) {
    super("testbed:index:Testbed", name, {}, opts);
    const { spec } = args;
    const machines = Object.values(spec.hosts).filter((h) => h.kind === "machine");
    // Jump hosts first, so a host behind one can use its connection.
    const ordered = [...machines.filter((h) => h.jump === undefined), ...machines.filter((h) => h.jump !== undefined)];
    for (const host of ordered) {
      const jump = host.jump !== undefined ? this.hosts[host.jump].connection : undefined;
      this.hosts[host.name] = new RemoteHost(host.name, { host, jump }, { parent: this });
    }
    // Storage first: the VMs' disks (and the etcds inside them) land on the tuned dataset.
    const properties = spec.zfs.resolvedProperties;
    for (const host of machines) {
      if (host.hypervisor === undefined || Object.keys(properties).length === 0) continue;
      this.zfs[host.name] = new ZfsTuning(
        `${host.name}-zfs`,
        { host: this.hosts[host.name], dataset: spec.zfs.dataset, properties },
        { parent: this },
      );
    }
    for (const host of Object.values(spec.hosts)) {
      if (host.kind !== "vm" || host.vm === undefined) continue;
      const tuning = this.zfs[host.vm.hypervisor];
      const vm = new VirtualMachine(
        host.name,
        { host, hypervisor: this.hosts[host.vm.hypervisor], dependsOn: tuning ? [tuning] : [] },
        { parent: this },
      );
      this.vms[host.name] = vm;
      this.hosts[host.name] = vm.host;
    }
    for (const cluster of Object.values(spec.clusters)) {
      const node = (name: string) => ({ host: this.hosts[name], address: this.addressOf(name) });
      this.clusters[cluster.name] = new K3sCluster(
        cluster.name,
        { cluster, server: node(cluster.server), agents: cluster.agents.map(node) },
        { parent: this },
      );
    }
    this.registerOutputs({});
  }

  /** The address other machines reach a host on: the spec's, or (VMs) the one Incus reported. */
  addressOf(name: string): pulumi.Output<string> {
    const vm = this.vms[name];
    return vm ? vm.address : pulumi.output(this.hosts[name].spec.address as string);
  }

  /** Stack outputs: what an operator needs after `pulumi up`. */
  outputs(): Record<string, pulumi.Output<unknown>> {
    return {
      zfsRecords: pulumi.output(Object.fromEntries(Object.entries(this.zfs).map(([n, z]) => [n, z.record]))),
      kubeconfigs: pulumi.secret(
        pulumi.output(Object.fromEntries(Object.entries(this.clusters).map(([n, c]) => [n, c.kubeconfig]))),
      ),
      vmAddresses: pulumi.output(Object.fromEntries(Object.entries(this.vms).map(([n, vm]) => [n, vm.address]))),
    };
  }
}
