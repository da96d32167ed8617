import * as path from "node:path";
import type { Command } from "commander";
import { EXIT, finish } from "../cli";
import { type TestbedSpec, formatIssue, validateSpec } from "../../components/spec";
import { type StackOptions, loadStackSettings, withStackOptions } from "../lib/stackArgs";

/** One line describing a valid spec. */
export function summarize(spec: TestbedSpec): string {
  const hosts = Object.values(spec.hosts);
  const machines = hosts.filter((h) => h.kind === "machine").length;
  const vms = hosts.length - machines;
  const clusters = Object.values(spec.clusters)
    .map((c) => `${c.name} (${1 + c.agents.length} node${c.agents.length === 0 ? "" : "s"})`)
    .join(", ");
  const zfs = Object.entries(spec.zfs.resolvedProperties)
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
  const karmada = spec.karmada
    ? `, karmada on ${spec.karmada.cluster} with ${spec.karmada.members.length} member(s)`
    : "";
  return (
    `${machines} machine(s), ${vms} VM(s), clusters: ${clusters || "none"}, ` +
    `zfs ${spec.zfs.dataset}: ${zfs || "unchanged"}${karmada}, disk gate ${spec.diskGate.warnMs}/${spec.diskGate.failMs} ms`
  );
}

export function register(program: Command): void {
  withStackOptions(
    program
      .command("validate")
      .description("check a stack's testbed spec; every error names its field; touches no host"),
  ).action((opts: StackOptions) => {
    const { file, raw } = loadStackSettings(opts);
    const { spec, issues } = validateSpec(raw, { baseDir: path.dirname(path.dirname(file)), unreadableFiles: "warn" });
    if (spec === undefined) {
      process.stderr.write(`${file}: ${issues.length} error(s)\n`);
      for (const issue of issues) process.stderr.write(`  ${formatIssue(issue)}\n`);
      return finish(EXIT.badInput);
    }
    for (const w of spec.warnings) process.stderr.write(`warning: ${formatIssue(w)}\n`);
    process.stdout.write(`valid: ${summarize(spec)}\n`);
    finish(EXIT.ok);
  });
}
