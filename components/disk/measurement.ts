import { posix } from "node:path";
import type * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import type { RemoteHost } from "../remote/host";
import { scriptStep } from "../remote/scriptStep";
import { type StepScript, parseResult, readShellFile } from "../remote/script";
import { FIO_SH, type FioJob, type FioResult, fioValues, parseFioJson } from "./fio";
import { recordFile } from "../zfs/zfs";

/** Directories the measurement created (so delete removes only those, and only when etcd left them empty). */
export const CREATED_DIRS = "/var/lib/testbed/created-dirs";
/** Where a ZFS measurement mounts its short-lived child dataset. */
export const ZFS_PROBE_MOUNT = "/var/lib/testbed/fio-probe";

/** What one measurement runs: its size, the limits it stops on once its verdict is certain, its time budget. */
export type Measurement = Required<Pick<FioJob, "sizeMiB" | "thresholds" | "budgetSeconds">>;

/**
 * Measures fdatasync latency at the directories etcd will write to, once per filesystem: a directory on the same
 * filesystem (st_dev) as one already measured is gated on that measurement (Karmada's etcd and k3s' on one VM disk).
 * Each directory is created if missing (etcd would create it anyway) and remembered, so delete removes it only if
 * the measurement made it and nothing is in it. Prints `{"fio":[<base64 fio output>, ...]}`, one per directory
 * (disk-latency.sh).
 */
export function diskLatencyScript(host: string, paths: string[], job: Measurement): StepScript {
  if (paths.length === 0) throw new Error("diskLatencyScript: no path to measure");
  return {
    values: {
      gate_host: host,
      gate_paths: paths,
      created_dirs: CREATED_DIRS,
      created_dirs_lock: posix.dirname(CREATED_DIRS),
      ...fioValues(job),
    },
    body: `${FIO_SH}\n\n${readShellFile(__dirname, "disk-latency.sh")}`,
  };
}

/**
 * Measures a ZFS dataset as its children (the VMs' volumes) see it: a short-lived child dataset inherits the
 * dataset's properties, is mounted, measured and destroyed (zfs-latency.sh). Works whatever the dataset's own
 * mountpoint is (Incus pools are often mountpoint=none). asRecorded: once the dataset is tuned, the child gets the
 * values the tuning step recorded before its first change, so "before" keeps measuring the original settings.
 */
export function zfsLatencyScript(
  host: string,
  dataset: string,
  label: string,
  job: Measurement,
  opts: { asRecorded?: boolean } = {},
): StepScript {
  return {
    values: {
      gate_host: host,
      gate_dataset: dataset,
      gate_label: label,
      gate_child: `${dataset}/testbed-fio-${label}`,
      gate_path: `${ZFS_PROBE_MOUNT}-${label}`,
      gate_record: recordFile(dataset),
      gate_as_recorded: opts.asRecorded ?? false,
      ...fioValues(job),
    },
    body: `${FIO_SH}\n\n${readShellFile(__dirname, "zfs-latency.sh")}`,
  };
}

/** The fio results a measurement step printed, one per directory it gates (in the order given). */
export function resultsOf(stdout: string): FioResult[] {
  const out = parseResult(stdout).output as { fio?: string | string[] } | undefined;
  if (out?.fio === undefined || out.fio.length === 0) throw new Error("the measurement printed no fio result");
  const all = typeof out.fio === "string" ? [out.fio] : out.fio;
  return all.map((b64) => parseFioJson(Buffer.from(b64, "base64").toString("utf8")));
}

/** The fio result of a step's first (or only) directory. */
export function resultOf(stdout: string): FioResult {
  return resultsOf(stdout)[0];
}

export interface DiskLatencyCheckArgs {
  host: RemoteHost;
  /** The step's name on the host (`<host>/<name>`), e.g. "disk-gate-k3s" or "fsync-before". */
  name: string;
  /** Measure these directories (once per filesystem they are on) ... */
  paths?: string[];
  /**
   * ... or this ZFS dataset (through a child dataset), labelled e.g. "before"/"after"; asRecorded: once tuned, give
   * the child the properties recorded before tuning (what "before" means on a re-run).
   */
  zfs?: { dataset: string; label: string; asRecorded?: boolean };
  /** Size, limits (the run stops once its verdict against them is certain) and time budget. */
  job: Measurement;
  dependsOn?: pulumi.Input<pulumi.Resource>[];
}

/** One fdatasync latency measurement on a host, as a step whose parsed result is an output. */
export class DiskLatencyCheck extends pulumi.ComponentResource {
  readonly step: command.remote.Command;
  /** The result of the first directory (or of the dataset). */
  readonly result: pulumi.Output<FioResult>;
  /** One result per directory, in the order given (the same measurement for directories sharing a filesystem). */
  readonly results: pulumi.Output<FioResult[]>;

  constructor(name: string, args: DiskLatencyCheckArgs, opts?: pulumi.ComponentResourceOptions) {
    // Aliased to its token before the storage folder was split, so existing stacks keep their steps.
    super(
      "testbed:disk:DiskLatencyCheck",
      name,
      {},
      pulumi.mergeOptions(opts, { aliases: [{ type: "testbed:storage:DiskLatencyCheck" }] }),
    );
    const host = args.host.name;
    const script = args.zfs
      ? zfsLatencyScript(host, args.zfs.dataset, args.zfs.label, args.job, { asRecorded: args.zfs.asRecorded })
      : diskLatencyScript(host, args.paths ?? ["/"], args.job);
    const measured = scriptStep(args.host, args.name, script, resultsOf, { parent: this, dependsOn: args.dependsOn });
    this.step = measured.step;
    this.results = measured.parsed;
    this.result = this.results.apply((r) => r[0]);
    this.registerOutputs({ result: this.result, results: this.results });
  }
}
