import { posix } from "node:path";
import type * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import type { RemoteHost } from "../remote/host";
import { type StepScript, parseResult, shq } from "../remote/script";
import { type FioResult, fioScriptBody, parseFioJson } from "./fio";
import { type DiskThresholds, explainVerdict, verdict } from "./thresholds";
import { recordFile } from "./zfs";

/** Directories the measurement created (so delete removes only those, and only when etcd left them empty). */
export const CREATED_DIRS = "/var/lib/testbed/created-dirs";
/** Where a ZFS measurement mounts its short-lived child dataset. */
export const ZFS_PROBE_MOUNT = "/var/lib/testbed/fio-probe";

/** The fio job in a subshell; its JSON lands base64-encoded in an output line, its failure names host and path. */
function measureLines(host: string, path: string, sizeMiB: number): string {
  return `if ! fio_json="$( (
${fioScriptBody({ path, sizeMiB })}
) )"; then
  fail "host ${host}: could not measure fdatasync latency at ${path} (see above)"
fi
output "{\\"fio\\":\\"$(printf '%s' "$fio_json" | base64 -w0)\\"}"`;
}

/**
 * Measures fdatasync latency at the directory etcd will write to. The directory is created if missing (etcd would
 * create it anyway) and remembered, so delete removes it only if the measurement made it and nothing is in it.
 */
export function diskLatencyScript(host: string, path: string, sizeMiB: number): StepScript {
  const p = shq(path);
  const registry = posix.dirname(CREATED_DIRS);
  return {
    create: `
if [ ! -d ${p} ]; then
  mkdir -p ${p} "${registry}"
  ( flock 9; echo ${p} >> ${CREATED_DIRS} ) 9<"${registry}"
fi
${measureLines(host, path, sizeMiB)}
unchanged "measured fdatasync latency at ${path}"`,
    // The list is shared by every gate on the host, and Pulumi runs independent deletes together: it is rewritten
    // under a lock on its directory, through a temporary file of this process's own.
    delete: `
if [ -f ${CREATED_DIRS} ] && grep -qxF ${p} ${CREATED_DIRS}; then
  if [ ! -d ${p} ]; then
    unchanged "${path} is already gone"
  elif rmdir ${p} 2>/dev/null; then
    changed "removed ${path}"
  else
    unchanged "${path} is not empty; left in place"
  fi
  ( flock 9; { grep -vxF ${p} ${CREATED_DIRS} || true; } > ${CREATED_DIRS}.$$ && mv ${CREATED_DIRS}.$$ ${CREATED_DIRS} ) 9<"${registry}"
else
  unchanged "${path} was not created by the measurement"
fi`,
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
  sizeMiB: number,
  opts: { asRecorded?: boolean } = {},
): StepScript {
  const child = shq(`${dataset}/testbed-fio-${label}`);
  const mount = `${ZFS_PROBE_MOUNT}-${label}`;
  const record = shq(recordFile(dataset));
  // A just-unmounted dataset can be "busy" for a moment (zfs-fuse, and OpenZFS with a lingering reader): retry.
  const destroy = `for i in 1 2 3 4 5 6 7 8 9 10; do zfs list -H ${child} >/dev/null 2>&1 || break; zfs destroy ${child} >/dev/null 2>&1 && break; sleep 0.5; done; rmdir ${shq(mount)} 2>/dev/null || true`;
  // "before", once the dataset has been tuned (a re-run after an upgrade or a new size): the child dataset gets the
  // values the tuning step recorded before its first change, so "before" keeps measuring the original settings.
  const recorded = opts.asRecorded
    ? `
if [ -s ${record} ]; then
  while IFS=$'\t' read -r prop value source; do create_opts+=(-o "$prop=$value"); recorded_props+=("$prop"); done < ${record}
fi`
    : "";
  return {
    create: `
cleanup() { ${destroy}; }
cleanup
mkdir -p ${shq(mount)}
create_opts=(); recorded_props=()${recorded}
zfs create -o mountpoint=${shq(mount)} "\${create_opts[@]}" ${child} || fail "host ${host}: cannot create the measurement dataset ${dataset}/testbed-fio-${label}"
trap cleanup EXIT
[ "$(zfs get -H -o value mounted ${child})" = yes ] || fail "host ${host}: the measurement dataset ${dataset}/testbed-fio-${label} did not mount at ${mount}"
as=""
if [ \${#recorded_props[@]} -gt 0 ]; then
  as="; with the settings recorded before tuning: $(zfs get -H -p -o property,value "$(IFS=,; echo "\${recorded_props[*]}")" ${child} | tr '\t\n' '= ' | sed 's/ $//')"
fi
${measureLines(host, mount, sizeMiB)}
unchanged "measured fdatasync latency on ${dataset} (${label}$as)"`,
    delete: `
if zfs list -H ${child} >/dev/null 2>&1; then ${destroy}; changed "removed ${dataset}/testbed-fio-${label}"; else unchanged "nothing to remove"; fi`,
  };
}

/** The fio result a measurement step printed. */
export function resultOf(stdout: string): FioResult {
  const out = parseResult(stdout).output as { fio?: string } | undefined;
  if (out?.fio === undefined) throw new Error("the measurement printed no fio result");
  return parseFioJson(Buffer.from(out.fio, "base64").toString("utf8"));
}

export interface GateInput {
  host: string;
  path: string;
  result: FioResult;
  thresholds: DiskThresholds;
  /** The spec explicitly accepts this host's disk (diskGate.accept). */
  accepted: boolean;
}

/** Thrown when the gate stops an install. */
export class DiskGateError extends Error {}

/**
 * The disk gate: passes, warns, or stops the install with what was measured, the limit and the fix.
 * Returns the line the install records (and re-runs on when it changes category).
 */
export function gate(input: GateInput): string {
  const { host, path, result, thresholds, accepted } = input;
  const v = verdict(result.p99Ms, thresholds);
  const summary = `${host}:${path} ${explainVerdict(result.p99Ms, thresholds)}`;
  if (v === "fail" && !accepted)
    throw new DiskGateError(
      `disk gate: host ${host}, path ${path}: fdatasync p99 ${result.p99Ms.toFixed(2)} ms is above the ${thresholds.failMs} ms limit, ` +
        "so etcd there would miss heartbeats (the incident this tool was born from). Fix: tune the dataset under it " +
        '(testbed:zfs profile "durable", or "demo" with acknowledgeSyncDisabled), move etcd to a faster disk, or accept ' +
        `this disk explicitly with testbed:diskGate.accept: [${host}].`,
    );
  return `${v}${v === "fail" ? " (accepted by diskGate.accept)" : ""}: ${summary}`;
}

/**
 * The verdict of a gate's text without the measured figures: "pass", "warn" or "fail (accepted by
 * diskGate.accept)". What a step downstream may depend on: a re-measurement that lands in the same verdict
 * must not re-run it.
 */
export function gateVerdictOf(gateText: string): string {
  const colon = gateText.indexOf(":");
  return colon < 0 ? gateText : gateText.slice(0, colon);
}

export interface DiskLatencyCheckArgs {
  host: RemoteHost;
  /** The step's role on the host, e.g. "disk-gate-k3s" or "fsync-before". */
  role: string;
  /** Measure this directory ... */
  path?: string;
  /**
   * ... or this ZFS dataset (through a child dataset), labelled e.g. "before"/"after"; asRecorded: once tuned, give
   * the child the properties recorded before tuning (what "before" means on a re-run).
   */
  zfs?: { dataset: string; label: string; asRecorded?: boolean };
  sizeMiB: number;
  dependsOn?: pulumi.Input<pulumi.Resource>[];
}

/** One fdatasync latency measurement on a host, as a step whose parsed result is an output. */
export class DiskLatencyCheck extends pulumi.ComponentResource {
  readonly step: command.remote.Command;
  readonly result: pulumi.Output<FioResult>;

  constructor(name: string, args: DiskLatencyCheckArgs, opts?: pulumi.ComponentResourceOptions) {
    super("testbed:storage:DiskLatencyCheck", name, {}, opts);
    const host = args.host.name;
    const script = args.zfs
      ? zfsLatencyScript(host, args.zfs.dataset, args.zfs.label, args.sizeMiB, { asRecorded: args.zfs.asRecorded })
      : diskLatencyScript(host, args.path ?? "/", args.sizeMiB);
    this.step = args.host.step(args.role, script, { parent: this, dependsOn: args.dependsOn });
    this.result = this.step.stdout.apply(resultOf);
    this.registerOutputs({ result: this.result });
  }
}
