/**
 * Checks of testbed:karmada against the rest of the spec that the schema alone cannot make, as pure functions: each
 * problem names the field and the value and says what is allowed, and all are reported together.
 */
import type { KarmadaSpec } from "../spec/schema";
import type { SpecIssue } from "../spec/load";
import { KARMADA_NAMESPACE, etcdPathError } from "./values";

/** The chart version whose values and schemas the tests check (fixtures/). */
export const VALIDATED_CHART_VERSIONS = ["1.13.0", "v1.13.0"] as const;

export interface KarmadaSpecInput {
  clusters: Record<string, { server: string; agents: string[] }>;
  karmada?: KarmadaSpec;
}

export function karmadaSpecIssues(spec: KarmadaSpecInput): SpecIssue[] {
  const k = spec.karmada;
  if (k === undefined) return [];
  const issues: SpecIssue[] = [];
  const clusterNames = Object.keys(spec.clusters);
  const known = clusterNames.length === 0 ? "none are defined" : `clusters: ${clusterNames.join(", ")}`;
  if (!(k.cluster in spec.clusters)) {
    issues.push({ path: "karmada.cluster", message: `"${k.cluster}" is not a cluster of the spec (${known})` });
  }
  const seen = new Set<string>();
  k.members.forEach((m, i) => {
    const path = `karmada.members[${i}]`;
    if (!(m in spec.clusters)) {
      issues.push({ path, message: `"${m}" is not a cluster of the spec (${known})` });
    } else if (m === k.cluster) {
      issues.push({
        path,
        message: `"${m}" hosts Karmada (karmada.cluster); the management cluster is never a member`,
      });
    }
    if (seen.has(m)) issues.push({ path, message: `"${m}" is listed twice` });
    seen.add(m);
  });
  if (!(VALIDATED_CHART_VERSIONS as readonly string[]).includes(k.chartVersion)) {
    issues.push({
      path: "karmada.chartVersion",
      message:
        `"${k.chartVersion}" is not a chart version this program's values were checked against ` +
        `(${VALIDATED_CHART_VERSIONS[0]}); Helm would drop any value the chart renamed without a word`,
    });
  }
  const etcd = etcdPathError(k.etcdPath, KARMADA_NAMESPACE);
  if (etcd !== undefined) {
    const [, message] = etcd.split(/: (.*)/s);
    issues.push({ path: "karmada.etcdPath", message });
  }
  return issues;
}
