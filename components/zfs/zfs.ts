import * as pulumi from "@pulumi/pulumi";
import type * as command from "@pulumi/command";
import type { RemoteHost } from "../remote/host";
import { type StepScript, parseResult, readShellFile } from "../remote/script";
import { scriptStep } from "../remote/scriptStep";

/** Where a host keeps what it recorded before the first change, so later runs and the delete restore the original. */
export const ZFS_RECORD_DIR = "/var/lib/testbed/zfs";

/** One property as `zfs get -H -p -o property,value,source` reported it before the provisioner changed it. */
export interface RecordedProperty {
  value: string;
  /** "local", "default", "inherited from <ds>", "temporary", "received" or "-". */
  source: string;
}

export interface ZfsRecord {
  dataset: string;
  recorded: Record<string, RecordedProperty>;
  /** The properties this run changed (empty on a re-run). */
  changed: string[];
}

/** The file holding a dataset's record (`/` in dataset names becomes `%`). */
export function recordFile(dataset: string): string {
  return `${ZFS_RECORD_DIR}/${dataset.replace(/\//g, "%")}.tsv`;
}

/**
 * The ZFS tuning step (zfs.sh). Create: checks the dataset exists and that this host's ZFS supports every property and
 * value (on a short-lived child dataset, so nothing on the real one changes if one is refused), records each
 * property's value and source once, then sets what differs. Delete: restores each recorded property exactly: a
 * local value is set back, an inherited or default one is re-inherited.
 */
export function zfsTuningScript(host: string, dataset: string, properties: Record<string, string>): StepScript {
  const names = Object.keys(properties);
  const pairs = names.map((n) => `${n}=${properties[n]}`);
  return {
    values: {
      zfs_host: host,
      zfs_dataset: dataset,
      zfs_record_dir: ZFS_RECORD_DIR,
      zfs_record: recordFile(dataset),
      zfs_probe: `${dataset}/testbed-probe`,
      zfs_props: names,
      zfs_pairs: pairs,
      zfs_wanted: pairs.join(" "),
    },
    body: readShellFile(__dirname, "zfs.sh"),
  };
}

export interface ZfsTuningArgs {
  host: RemoteHost;
  dataset: string;
  properties: Record<string, string>;
  dependsOn?: pulumi.Input<pulumi.Resource>[];
}

/** Tunes a ZFS dataset on a hypervisor host for etcd, recording the original properties so delete restores them. */
export class ZfsTuning extends pulumi.ComponentResource {
  readonly step: command.remote.Command;
  /** What was recorded before the first change, and what this run changed. */
  readonly record: pulumi.Output<ZfsRecord>;

  constructor(name: string, args: ZfsTuningArgs, opts?: pulumi.ComponentResourceOptions) {
    // Aliased to its token before the storage folder was split, so existing stacks keep their steps.
    super(
      "testbed:zfs:ZfsTuning",
      name,
      {},
      pulumi.mergeOptions(opts, { aliases: [{ type: "testbed:storage:ZfsTuning" }] }),
    );
    const tuned = scriptStep(
      args.host,
      "zfs-tuning",
      zfsTuningScript(args.host.name, args.dataset, args.properties),
      (out) => parseResult(out).output as unknown as ZfsRecord,
      { parent: this, dependsOn: args.dependsOn },
    );
    this.step = tuned.step;
    this.record = tuned.parsed;
    this.registerOutputs({ record: this.record });
  }
}
