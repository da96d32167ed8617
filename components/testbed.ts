import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { TestbedSpec } from "./spec";
import { RemoteHost } from "./remote/host";
import { VirtualMachine } from "./vm/vm";
import { ZfsTuning } from "./zfs/zfs";
import { K3sCluster } from "./k3s/k3s";
import { DiskLatencyCheck } from "./disk/measurement";
import { gate, gateVerdictOf } from "./disk/gate";
import { parsedBy } from "./remote/scriptStep";
import type { FioResult } from "./disk/fio";
import { Karmada } from "./karmada/karmada";
import { KarmadaMember } from "./karmada/member";
import { etcdDataScript } from "./karmada/etcdData";
import { karmadaOutputs } from "./karmada/outputs";
import { VaccelPipeline } from "./vaccel/pipeline";
import { clusterOfHost } from "./vaccel/validate";
import type * as command from "@pulumi/command";

export interface TestbedArgs {
  spec: TestbedSpec;
}

/**
 * The testbed, composed from the spec: one RemoteHost per machine (each first proves it is reachable and is what
 * the spec says); on each hypervisor, its ZFS dataset measured, tuned and measured again, then its VMs; a disk gate
 * where each k3s server's etcd (and Karmada's, on its cluster's server) will write; then the k3s clusters, each
 * server and agent waiting for the gates on its disk; then (testbed:karmada) Karmada on its cluster, the members
 * joined, and (testbed:vaccel) the pipeline through the Karmada API.
 * Ordering comes only from data dependencies and dependsOn, so independent hosts proceed in parallel, and destroy
 * undoes it in reverse: the pipeline, the joins, the Release, Karmada's etcd data, then the clusters.
 */
export class Testbed extends pulumi.ComponentResource {
  readonly hosts: Record<string, RemoteHost> = {};
  readonly vms: Record<string, VirtualMachine> = {};
  readonly zfs: Record<string, ZfsTuning> = {};
  readonly clusters: Record<string, K3sCluster> = {};
  /** fdatasync latency on each hypervisor's dataset before and after tuning. */
  readonly fsync: Record<string, { before: pulumi.Output<FioResult>; after: pulumi.Output<FioResult> }> = {};
  /** Disk gate verdicts, by "<host>:<path>". */
  readonly gates: Record<string, pulumi.Output<string>> = {};
  // Set by buildKarmada, when the spec has testbed:karmada (and testbed:vaccel).
  karmada?: Karmada;
  /** The cluster Karmada runs on. */
  karmadaCluster?: string;
  /** On the Karmada host: its delete removes etcd's hostPath data, after the Release is gone. */
  karmadaData?: command.remote.Command;
  readonly members: Record<string, KarmadaMember> = {};
  vaccel?: VaccelPipeline;

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
    // Storage first: measure, tune, measure again, on a quiet disk, then the VMs' disks (and the etcds inside them)
    // land on the tuned dataset. The VMs wait for the "after" figure because a launch writes a whole image onto the
    // pool: measured during it, "before" would be inflated and the before/after ratio would flatter the tuning.
    const properties = spec.zfs.resolvedProperties;
    const { dataset } = spec.zfs;
    // Measurements that share a physical disk (a hypervisor's pool and its VMs' disks) run one after another, and
    // nothing else writes to that disk meanwhile: concurrent fio jobs, a VM launch (a whole image) or a k3s install
    // (its binary, data and images, then etcd) would inflate the p99 and could fail a gate that alone would pass.
    // Per disk: before -> tuning -> after -> VM launches -> gates -> etcd-bearing installs.
    const lastMeasurement: Record<string, pulumi.Resource> = {};
    const launchesOn: Record<string, pulumi.Resource[]> = {};
    const diskOf = (hostName: string) => spec.hosts[hostName].vm?.hypervisor ?? hostName;
    const { sizeMiB, budgetSeconds, warnMs, failMs } = spec.diskGate;
    const job = { sizeMiB, budgetSeconds, thresholds: { warnMs, failMs } };
    for (const host of machines) {
      if (host.hypervisor === undefined || Object.keys(properties).length === 0) continue;
      const remote = this.hosts[host.name];
      const before = new DiskLatencyCheck(
        `${host.name}-fsync-before`,
        { host: remote, name: "fsync-before", zfs: { dataset, label: "before", asRecorded: true }, job },
        { parent: this },
      );
      const tuning = new ZfsTuning(
        `${host.name}-zfs`,
        { host: remote, dataset, properties, dependsOn: [before] },
        { parent: this },
      );
      const after = new DiskLatencyCheck(
        `${host.name}-fsync-after`,
        { host: remote, name: "fsync-after", zfs: { dataset, label: "after" }, job, dependsOn: [tuning] },
        { parent: this },
      );
      this.zfs[host.name] = tuning;
      this.fsync[host.name] = { before: before.result, after: after.result };
      lastMeasurement[host.name] = after;
    }
    for (const host of Object.values(spec.hosts)) {
      if (host.kind !== "vm" || host.vm === undefined) continue;
      const storageReady = lastMeasurement[host.vm.hypervisor];
      const vm = new VirtualMachine(
        host.name,
        {
          host,
          hypervisor: this.hosts[host.vm.hypervisor],
          dependsOn: storageReady ? [storageReady] : [],
        },
        { parent: this },
      );
      this.vms[host.name] = vm;
      this.hosts[host.name] = vm.host;
      (launchesOn[host.vm.hypervisor] ??= []).push(vm.launch);
    }
    // The disk gate: before anything that runs etcd goes on a host, measure where etcd will write. One step per host
    // measures each of its etcd paths' filesystems once (k3s' and Karmada's etcd share the VM's disk), and every path
    // is gated on its filesystem's result.
    const gatesOn: Record<string, pulumi.Output<string>[]> = {};
    const addGate = (hostName: string, stepName: string, paths: string[]) => {
      const disk = diskOf(hostName);
      const previous = lastMeasurement[disk];
      const quiet = [...(previous ? [previous] : []), ...(launchesOn[disk] ?? [])];
      const check = new DiskLatencyCheck(
        `${hostName}-${stepName}`,
        { host: this.hosts[hostName], name: stepName, paths, job, dependsOn: quiet },
        { parent: this },
      );
      lastMeasurement[disk] = check;
      paths.forEach((path, i) => {
        // A stopped install is a ResourceError tied to the measurement step: Pulumi shows the gate's message (host,
        // path, p99, limit, fix) under that step, without a stack trace (CONTRIBUTING.md, "Errors").
        const verdict = check.results.apply((results) =>
          parsedBy(check.step, gate, {
            host: hostName,
            path,
            result: results[i],
            thresholds: spec.diskGate,
            accepted: spec.diskGate.accept.includes(hostName),
          }),
        );
        this.gates[`${hostName}:${path}`] = verdict;
        (gatesOn[hostName] ??= []).push(verdict.apply(gateVerdictOf));
      });
    };
    // Clusters with the most agents waiting on them are measured first. (The installs wait for every gate on their
    // disk all the same, see below.)
    const byWork = Object.values(spec.clusters).sort((a, b) => b.agents.length - a.agents.length);
    for (const cluster of byWork) {
      const paths = [`${cluster.dataDir}/server/db`];
      if (spec.karmada?.cluster === cluster.name) paths.push(spec.karmada.etcdPath);
      addGate(cluster.server, "disk-gate-k3s", paths);
    }

    for (const cluster of Object.values(spec.clusters)) {
      // A node's install waits for the last measurement on its disk: on a shared disk, another host's gate.
      const node = (name: string) => {
        const last = lastMeasurement[diskOf(name)];
        return {
          host: this.hosts[name],
          address: this.addressOf(name),
          gates: gatesOn[name],
          dependsOn: last ? [last] : [],
        };
      };
      this.clusters[cluster.name] = new K3sCluster(
        cluster.name,
        { cluster, server: node(cluster.server), agents: cluster.agents.map(node) },
        { parent: this },
      );
    }
    if (spec.karmada !== undefined) this.buildKarmada(spec);
    this.registerOutputs({});
  }

  /**
   * Karmada on its cluster's server, through a provider on that cluster's kubeconfig; each member joined through
   * providers on its kubeconfig and on the Karmada API; then the vAccel pipeline in the Karmada API. The mgmt
   * cluster is never a member (the spec refuses it; checked again here, since a join would register Karmada's own
   * host as a workload cluster).
   */
  private buildKarmada(spec: TestbedSpec): void {
    const k = spec.karmada;
    if (k === undefined) return;
    const mgmt = this.clusters[k.cluster];
    if (mgmt === undefined) throw new pulumi.RunError(`karmada.cluster: "${k.cluster}" is not a cluster of the spec`);
    if (k.members.includes(k.cluster)) {
      throw new pulumi.RunError(`karmada.members: "${k.cluster}" hosts Karmada and cannot also be its member`);
    }
    const server = spec.clusters[k.cluster].server;
    const etcdData = etcdDataScript({ etcdPath: k.etcdPath, waitSeconds: k.timeouts.etcdReleaseSeconds });
    const karmadaData = this.hosts[server].step("karmada-etcd-data", etcdData, {
      parent: this,
      dependsOn: [mgmt.server],
    });
    const karmada = new Karmada(
      "karmada",
      {
        spec: k,
        hostKubeconfig: mgmt.kubeconfig,
        hostAddress: this.addressOf(server),
        etcdNode: server,
        dependsOn: [mgmt.nodesReady, karmadaData],
      },
      { parent: this },
    );
    const karmadaProvider = new k8s.Provider(
      "karmada-api",
      { kubeconfig: karmada.apiKubeconfig },
      { parent: this, dependsOn: [karmada.release] },
    );
    for (const name of k.members) {
      const member = this.clusters[name];
      if (member === undefined) throw new pulumi.RunError(`karmada.members: "${name}" is not a cluster of the spec`);
      this.members[name] = new KarmadaMember(
        `karmada-member-${name}`,
        {
          cluster: name,
          kubeconfig: member.kubeconfig,
          karmada: karmadaProvider,
          memberReady: [member.nodesReady],
          karmadaReady: [karmada.release],
          tokenTimeoutSeconds: k.timeouts.memberServiceAccountSeconds,
          readyTimeoutSeconds: k.timeouts.memberReadySeconds,
        },
        { parent: this },
      );
    }
    this.karmada = karmada;
    this.karmadaCluster = k.cluster;
    this.karmadaData = karmadaData;
    const v = spec.vaccel;
    if (v === undefined) return;
    const member = clusterOfHost(spec.clusters, v.gpuNode);
    const join = member === undefined ? undefined : this.members[member];
    if (member === undefined || join === undefined) {
      throw new pulumi.RunError(`vaccel.gpuNode: "${v.gpuNode}" is not in a Karmada member cluster`);
    }
    this.vaccel = new VaccelPipeline(
      "vaccel",
      { spec: v, member, karmada: karmadaProvider, dependsOn: [join.clusterObject] },
      { parent: this },
    );
  }

  /** The address other machines reach a host on: the spec's, or (VMs) the one Incus reported. */
  addressOf(name: string): pulumi.Output<string> {
    const vm = this.vms[name];
    return vm ? vm.address : pulumi.output(this.hosts[name].spec.address as string);
  }

  /** Stack outputs: what an operator needs after `pulumi up`. */
  outputs(): Record<string, pulumi.Output<unknown>> {
    const ms = (r: FioResult) => Math.round(r.p99Ms * 1000) / 1000;
    return {
      fsyncP99: pulumi.output(
        Object.fromEntries(
          Object.entries(this.fsync).map(([n, f]) => [
            n,
            pulumi.all([f.before, f.after]).apply(([b, a]) => ({
              beforeMs: ms(b),
              afterMs: ms(a),
              ratio: a.p99Ms > 0 ? Math.round((b.p99Ms / a.p99Ms) * 100) / 100 : null,
            })),
          ]),
        ),
      ),
      diskGates: pulumi.output(this.gates),
      zfsRecords: pulumi.output(Object.fromEntries(Object.entries(this.zfs).map(([n, z]) => [n, z.record]))),
      kubeconfigs: pulumi.secret(
        pulumi.output(Object.fromEntries(Object.entries(this.clusters).map(([n, c]) => [n, c.kubeconfig]))),
      ),
      vmAddresses: pulumi.output(Object.fromEntries(Object.entries(this.vms).map(([n, vm]) => [n, vm.address]))),
      ...this.karmadaOutputs(),
    };
  }

  /**
   * With Karmada: its API kubeconfig (server https://<host>:<apiNodePort>) and the merged kubeconfig the MLSysOps CLI
   * loads (contexts karmada-apiserver, karmada-host, one per member), both secret.
   */
  private karmadaOutputs(): Record<string, pulumi.Output<unknown>> {
    const mgmt = this.clusters[this.karmadaCluster ?? ""];
    if (this.karmada === undefined || mgmt === undefined) return {};
    return karmadaOutputs({
      karmadaApi: this.karmada.apiKubeconfig,
      karmadaHost: mgmt.kubeconfig,
      members: Object.fromEntries(Object.keys(this.members).map((n) => [n, this.clusters[n].kubeconfig])),
    });
  }
}
