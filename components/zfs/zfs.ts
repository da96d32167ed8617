import * as pulumi from "@pulumi/pulumi";
import type * as command from "@pulumi/command";
import type { RemoteHost } from "../remote/host";
import { type InlineStepScript, parseResult, shq } from "../remote/script";

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
 * The ZFS tuning step. Create: checks the dataset exists and that this host's ZFS supports every property and
 * value (on a short-lived child dataset, so nothing on the real one changes if one is refused), records each
 * property's value and source once, then sets what differs. Delete: restores each recorded property exactly: a
 * local value is set back, an inherited or default one is re-inherited.
 */
export function zfsTuningScript(host: string, dataset: string, properties: Record<string, string>): InlineStepScript {
  const names = Object.keys(properties);
  // Every value reaches bash as a quoted word in this header; the bodies only expand the variables.
  const header = `zfs_host=${shq(host)}
zfs_dataset=${shq(dataset)}
zfs_dataset_json=${shq(JSON.stringify(dataset))}
zfs_record=${shq(recordFile(dataset))}
zfs_probe=${shq(`${dataset}/testbed-probe`)}
zfs_props=(${names.map(shq).join(" ")})
zfs_pairs=(${names.map((p) => shq(`${p}=${properties[p]}`)).join(" ")})
zfs_wanted=${shq(names.map((n) => `${n}=${properties[n]}`).join(" "))}`;
  return {
    create: `
${header}
command -v zfs >/dev/null || fail "host $zfs_host: the zfs command is missing (install zfsutils-linux)"
zfs list -H -o name "$zfs_dataset" >/dev/null 2>&1 || fail "host $zfs_host: ZFS dataset $zfs_dataset does not exist (zfs list shows: $(zfs list -H -o name 2>&1 | tr '\\n' ' '))"
# 1. Every property and value must be supported before any is changed.
for prop in "\${zfs_props[@]}"; do
  if ! out="$(zfs get -H -o value "$prop" "$zfs_dataset" 2>&1)"; then
    fail "host $zfs_host: dataset $zfs_dataset: this ZFS does not support property $prop (zfs get said: $(echo "$out" | head -n1)); nothing was changed"
  fi
done
zfs destroy "$zfs_probe" >/dev/null 2>&1 || true
for pair in "\${zfs_pairs[@]}"; do
  if ! out="$(zfs create -o mountpoint=none -o "$pair" "$zfs_probe" 2>&1)"; then
    zfs destroy "$zfs_probe" >/dev/null 2>&1 || true
    fail "host $zfs_host: dataset $zfs_dataset: this ZFS refuses $pair (zfs said: $(echo "$out" | head -n1)); nothing was changed"
  fi
  zfs destroy "$zfs_probe"
done
# 2. Record the original values once; a re-run keeps the first record, so delete restores the real original.
mkdir -p ${shq(ZFS_RECORD_DIR)}
if [ ! -s "$zfs_record" ]; then
  zfs get -H -p -o property,value,source "$(IFS=,; echo "\${zfs_props[*]}")" "$zfs_dataset" > "$zfs_record.tmp"
  mv -- "$zfs_record.tmp" "$zfs_record"
fi
# 3. Set what differs.
changed_props=""
for pair in "\${zfs_pairs[@]}"; do
  prop="\${pair%%=*}"; want="\${pair#*=}"
  have="$(zfs get -H -o value "$prop" "$zfs_dataset")"
  if [ "\${have,,}" != "\${want,,}" ]; then
    zfs set "$pair" "$zfs_dataset"
    changed_props="$changed_props $prop"
  fi
done
recorded="$(awk -F'\\t' 'BEGIN{printf "{"} NR>1{printf ","} {printf "\\"%s\\":{\\"value\\":\\"%s\\",\\"source\\":\\"%s\\"}", $1, $2, $3} END{printf "}"}' "$zfs_record")"
changed_json="$(printf '%s\\n' $changed_props | awk 'NF{printf "%s\\"%s\\"", (n++ ? "," : ""), $1}')"
output "{\\"dataset\\":$zfs_dataset_json,\\"recorded\\":$recorded,\\"changed\\":[$changed_json]}"
if [ -n "$changed_props" ]; then changed "zfs set on $zfs_dataset:$changed_props"; else unchanged "$zfs_dataset already has $zfs_wanted"; fi`,
    delete: `
${header}
if [ ! -s "$zfs_record" ]; then unchanged "no record for $zfs_dataset; nothing to restore"; exit 0; fi
if ! zfs list -H -o name "$zfs_dataset" >/dev/null 2>&1; then rm -f -- "$zfs_record"; unchanged "dataset $zfs_dataset is gone"; exit 0; fi
restored=""
while IFS=$'\\t' read -r prop value source; do
  case "$source" in
    local) zfs set "$prop=$value" "$zfs_dataset" ;;
    *) zfs inherit "$prop" "$zfs_dataset" ;;
  esac
  restored="$restored $prop($source)"
done < "$zfs_record"
rm -f -- "$zfs_record"
changed "restored on $zfs_dataset:$restored"`,
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
    this.step = args.host.step("zfs-tuning", zfsTuningScript(args.host.name, args.dataset, args.properties), {
      parent: this,
      dependsOn: args.dependsOn,
    });
    this.record = this.step.stdout.apply((out) => parseResult(out).output as unknown as ZfsRecord);
    this.registerOutputs({ record: this.record });
  }
}
