import * as pulumi from "@pulumi/pulumi";
import type * as command from "@pulumi/command";
import type { RemoteHost } from "../remote/host";
import { type StepScript, parseResult, shq } from "../remote/script";

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
export function zfsTuningScript(host: string, dataset: string, properties: Record<string, string>): StepScript {
  const names = Object.keys(properties);
  const file = recordFile(dataset);
  const ds = shq(dataset);
  const probe = shq(`${dataset}/testbed-probe`);
  const pairs = names.map((p) => shq(`${p}=${properties[p]}`)).join(" ");
  return {
    create: `
command -v zfs >/dev/null || fail "host ${host}: the zfs command is missing (install zfsutils-linux)"
zfs list -H -o name ${ds} >/dev/null 2>&1 || fail "host ${host}: ZFS dataset ${dataset} does not exist (zfs list shows: $(zfs list -H -o name 2>&1 | tr '\\n' ' '))"
# 1. Every property and value must be supported before any is changed.
for prop in ${names.map(shq).join(" ")}; do
  if ! out="$(zfs get -H -o value "$prop" ${ds} 2>&1)"; then
    fail "host ${host}: dataset ${dataset}: this ZFS does not support property $prop (zfs get said: $(echo "$out" | head -n1)); nothing was changed"
  fi
done
zfs destroy ${probe} >/dev/null 2>&1 || true
for pair in ${pairs}; do
  if ! out="$(zfs create -o mountpoint=none -o "$pair" ${probe} 2>&1)"; then
    zfs destroy ${probe} >/dev/null 2>&1 || true
    fail "host ${host}: dataset ${dataset}: this ZFS refuses $pair (zfs said: $(echo "$out" | head -n1)); nothing was changed"
  fi
  zfs destroy ${probe}
done
# 2. Record the original values once; a re-run keeps the first record, so delete restores the real original.
mkdir -p ${ZFS_RECORD_DIR}
if [ ! -s ${shq(file)} ]; then
  zfs get -H -p -o property,value,source ${names.map(shq).join(",")} ${ds} > ${shq(file)}.tmp
  mv ${shq(file)}.tmp ${shq(file)}
fi
# 3. Set what differs.
changed_props=""
for pair in ${pairs}; do
  prop="\${pair%%=*}"; want="\${pair#*=}"
  have="$(zfs get -H -o value "$prop" ${ds})"
  if [ "\${have,,}" != "\${want,,}" ]; then
    zfs set "$pair" ${ds}
    changed_props="$changed_props $prop"
  fi
done
recorded="$(awk -F'\\t' 'BEGIN{printf "{"} NR>1{printf ","} {printf "\\"%s\\":{\\"value\\":\\"%s\\",\\"source\\":\\"%s\\"}", $1, $2, $3} END{printf "}"}' ${shq(file)})"
changed_json="$(printf '%s\\n' $changed_props | awk 'NF{printf "%s\\"%s\\"", (n++ ? "," : ""), $1}')"
output "{\\"dataset\\":\\"${dataset}\\",\\"recorded\\":$recorded,\\"changed\\":[$changed_json]}"
if [ -n "$changed_props" ]; then changed "zfs set on ${dataset}:$changed_props"; else unchanged "${dataset} already has ${names.map((n) => `${n}=${properties[n]}`).join(" ")}"; fi`,
    delete: `
if [ ! -s ${shq(file)} ]; then unchanged "no record for ${dataset}; nothing to restore"; exit 0; fi
if ! zfs list -H -o name ${ds} >/dev/null 2>&1; then rm -f ${shq(file)}; unchanged "dataset ${dataset} is gone"; exit 0; fi
restored=""
while IFS=$'\\t' read -r prop value source; do
  case "$source" in
    local) zfs set "$prop=$value" ${ds} ;;
    *) zfs inherit "$prop" ${ds} ;;
  esac
  restored="$restored $prop($source)"
done < ${shq(file)}
rm -f ${shq(file)}
changed "restored on ${dataset}:$restored"`,
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
    super("testbed:storage:ZfsTuning", name, {}, opts);
    this.step = args.host.step("zfs-tuning", zfsTuningScript(args.host.name, args.dataset, args.properties), {
      parent: this,
      dependsOn: args.dependsOn,
    });
    this.record = this.step.stdout.apply((out) => parseResult(out).output as unknown as ZfsRecord);
    this.registerOutputs({ record: this.record });
  }
}
