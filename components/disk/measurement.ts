import { posix } from "node:path";
import type * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import type { RemoteHost } from "../remote/host";
import { type InlineStepScript, parseResult, shq } from "../remote/script";
import { type FioJob, type FioResult, fioScriptBody, parseFioJson } from "./fio";
import { recordFile } from "../zfs/zfs";

/** Directories the measurement created (so delete removes only those, and only when etcd left them empty). */
export const CREATED_DIRS = "/var/lib/testbed/created-dirs";
/** Where a ZFS measurement mounts its short-lived child dataset. */
export const ZFS_PROBE_MOUNT = "/var/lib/testbed/fio-probe";

/** What one measurement runs: its size, the limits it stops on once its verdict is certain, its time budget. */
export type Measurement = Required<Pick<FioJob, "sizeMiB" | "thresholds" | "budgetSeconds">>;

/** The fio job in a subshell; its JSON lands base64-encoded in an output line, its failure names host and path. */
function measureLines(job: Measurement): string {
  return `if ! fio_json="$( (
${fioScriptBody({ path: { variable: "gate_path" }, ...job })}
) )"; then
  fail "host $gate_host: could not measure fdatasync latency at $gate_path (see above)"
fi
`;
}

/**
 * Measures fdatasync latency at the directories etcd will write to, once per filesystem: a directory on the same
 * filesystem (st_dev) as one already measured is gated on that measurement (Karmada's etcd and k3s' on one VM disk).
 * Each directory is created if missing (etcd would create it anyway) and remembered, so delete removes it only if
 * the measurement made it and nothing is in it. Prints `{"fio":[<base64 fio output>, ...]}`, one per directory.
 */
export function diskLatencyScript(host: string, paths: string[], job: Measurement): InlineStepScript {
  if (paths.length === 0) throw new Error("diskLatencyScript: no path to measure");
  const registry = shq(posix.dirname(CREATED_DIRS));
  const list = shq(CREATED_DIRS);
  const header = `gate_host=${shq(host)}
gate_paths=(${paths.map(shq).join(" ")})`;
  return {
    create: `
${header}
for gate_path in "\${gate_paths[@]}"; do
  if [ ! -d "$gate_path" ]; then
    mkdir -p -- "$gate_path" ${registry}
    ( flock 9; printf '%s\\n' "$gate_path" >> ${list} ) 9<${registry}
  fi
done
gate_devs=(); gate_fio=(); gate_note=""
for i in "\${!gate_paths[@]}"; do
  gate_path="\${gate_paths[$i]}"
  gate_dev="$(stat -c %d -- "$gate_path")"
  for j in "\${!gate_devs[@]}"; do
    if [ "\${gate_devs[$j]}" = "$gate_dev" ]; then
      gate_fio[i]="\${gate_fio[$j]}"; gate_devs[i]="$gate_dev"
      gate_note="$gate_note; $gate_path is on the same filesystem, gated on that measurement"
      continue 2
    fi
  done
${measureLines(job)}
  gate_fio[i]="$(printf '%s' "$fio_json" | base64 -w0)"; gate_devs[i]="$gate_dev"
  gate_note="$gate_note; measured fdatasync latency at $gate_path"
done
gate_list="$(printf '"%s",' "\${gate_fio[@]}")"
output "{\\"fio\\":[\${gate_list%,}]}"
unchanged "\${gate_note#; }"`,
    // The list is shared by every gate on the host, and Pulumi runs independent deletes together: it is rewritten
    // under a lock on its directory, through a temporary file of this process's own.
    delete: `
${header}
gate_note=""; gate_removed=""
for gate_path in "\${gate_paths[@]}"; do
  if [ -f ${list} ] && grep -qxF -- "$gate_path" ${list}; then
    if [ ! -d "$gate_path" ]; then
      gate_note="$gate_note; $gate_path is already gone"
    elif rmdir -- "$gate_path" 2>/dev/null; then
      gate_note="$gate_note; removed $gate_path"; gate_removed=yes
    else
      gate_note="$gate_note; $gate_path is not empty; left in place"
    fi
    ( flock 9; { grep -vxF -- "$gate_path" ${list} || true; } > ${list}.$$ && mv ${list}.$$ ${list} ) 9<${registry}
  else
    gate_note="$gate_note; $gate_path was not created by the measurement"
  fi
done
if [ -n "$gate_removed" ]; then changed "\${gate_note#; }"; else unchanged "\${gate_note#; }"; fi`,
  };
}

/**
 * Measures a ZFS dataset as its children (the VMs' volumes) see it: a short-lived child dataset inherits the
 * dataset's properties, is mounted, measured and destroyed. Works whatever the dataset's own mountpoint is
 * (Incus pools are often mountpoint=none).
 */
export function zfsLatencyScript(
  host: string,
  dataset: string,
  label: string,
  job: Measurement,
  opts: { asRecorded?: boolean } = {},
): InlineStepScript {
  const mount = `${ZFS_PROBE_MOUNT}-${label}`;
  const header = `gate_host=${shq(host)}
gate_child=${shq(`${dataset}/testbed-fio-${label}`)}
gate_path=${shq(mount)}
gate_dataset=${shq(dataset)}
gate_label=${shq(label)}
gate_record=${shq(recordFile(dataset))}`;
  // A just-unmounted dataset can be "busy" for a moment (zfs-fuse, and OpenZFS with a lingering reader): retry.
  const destroy = `for i in 1 2 3 4 5 6 7 8 9 10; do zfs list -H "$gate_child" >/dev/null 2>&1 || break; zfs destroy "$gate_child" >/dev/null 2>&1 && break; sleep 0.5; done; rmdir -- "$gate_path" 2>/dev/null || true`;
  // "before", once the dataset has been tuned (a re-run after an upgrade or a new size): the child dataset gets the
  // values the tuning step recorded before its first change, so "before" keeps measuring the original settings.
  const recorded = opts.asRecorded
    ? `
if [ -s "$gate_record" ]; then
  while IFS=$'\t' read -r prop value source; do create_opts+=(-o "$prop=$value"); recorded_props+=("$prop"); done < "$gate_record"
fi`
    : "";
  return {
    create: `
${header}
cleanup() { ${destroy}; }
cleanup
mkdir -p -- "$gate_path"
create_opts=(); recorded_props=()${recorded}
zfs create -o mountpoint="$gate_path" "\${create_opts[@]}" "$gate_child" || fail "host $gate_host: cannot create the measurement dataset $gate_child"
trap cleanup EXIT
[ "$(zfs get -H -o value mounted "$gate_child")" = yes ] || fail "host $gate_host: the measurement dataset $gate_child did not mount at $gate_path"
as=""
if [ \${#recorded_props[@]} -gt 0 ]; then
  as="; with the settings recorded before tuning: $(zfs get -H -p -o property,value "$(IFS=,; echo "\${recorded_props[*]}")" "$gate_child" | tr '\t\n' '= ' | sed 's/ $//')"
fi
${measureLines(job)}
output "{\\"fio\\":[\\"$(printf '%s' "$fio_json" | base64 -w0)\\"]}"
unchanged "measured fdatasync latency on $gate_dataset ($gate_label$as)"`,
    delete: `
${header}
if zfs list -H "$gate_child" >/dev/null 2>&1; then ${destroy}; changed "removed $gate_child"; else unchanged "nothing to remove"; fi`,
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
  /** The step's role on the host, e.g. "disk-gate-k3s" or "fsync-before". */
  role: string;
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
    this.step = args.host.step(args.role, script, { parent: this, dependsOn: args.dependsOn });
    this.results = this.step.stdout.apply(resultsOf);
    this.result = this.results.apply((r) => r[0]);
    this.registerOutputs({ result: this.result, results: this.results });
  }
}
