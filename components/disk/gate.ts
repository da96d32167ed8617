import type { FioResult } from "./fio";
import { stopNote } from "./fio";
import { type DiskThresholds, explainVerdict, verdict } from "./thresholds";

/*
 * The disk gate: before anything that runs etcd goes on a host, the fdatasync latency measured where etcd will write
 * (measurement.ts) decides whether the install may go on. It exists because of the incident this tool was born
 * from: etcd on a disk whose fsync p99 was far above 100 ms missed its heartbeats and its pods crashed every few
 * minutes (README, "Why it exists").
 */

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
  const summary = `${host}:${path} ${explainVerdict(result.p99Ms, thresholds)}${stopNote(result)}`;
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
