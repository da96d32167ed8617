/**
 * Checks of testbed:karmada against the rest of the spec that the schema alone cannot make, as pure functions: each
 * problem names the field, quotes the (masked) value and says what is allowed, and all are reported together
 * (CONTRIBUTING.md, "Errors").
 */
import type { KarmadaSpec } from "../spec/schema";
import type { SpecIssue } from "../spec/load";
import { showValue } from "../spec/mask";
import { KARMADA_NAMESPACE, etcdPathError } from "./values";

/** The chart version whose values and schemas the tests check (fixtures/). */
export const VALIDATED_CHART_VERSIONS = ["1.13.0", "v1.13.0"] as const;

export interface KarmadaSpecInput {
  clusters: Record<string, { server: string; agents: string[] }>;
  karmada?: KarmadaSpec;
}

function names(list: string[]): string {
  return list.map((n) => showValue(n)).join(", ") || "none";
}

export function karmadaSpecIssues(spec: KarmadaSpecInput): SpecIssue[] {
  const k = spec.karmada;
  if (k === undefined) return [];
  const issues: SpecIssue[] = [];
  const known = `known: ${names(Object.keys(spec.clusters))}`;
  const host = spec.clusters[k.cluster];
  if (host === undefined) {
    issues.push({
      path: "karmada.cluster",
      message: `${showValue(k.cluster)} is not a cluster of this spec (${known})`,
    });
  }
  // A Karmada cluster may have agents. The chart's etcd keeps its data on a hostPath of the node its pod runs on, and
  // it is pinned to the cluster's server, the node whose disk the gate measures for karmada.etcdPath
  // (components/testbed.ts): values.ts sets etcd.internal.nodeSelector kubernetes.io/hostname=<server>, which chart
  // 1.13.0 templates/etcd.yaml lines 38-41 render into the etcd StatefulSet's pod spec; the kubelet sets that label to
  // its node name, which k3s passes as --hostname-override from the server's --node-name, its spec name (k3s
  // pkg/daemons/agent/agent_linux.go, kubeletArgs; components/k3s/scripts.ts, serverConfig).
  const seen = new Set<string>();
  k.members.forEach((m, i) => {
    const path = `karmada.members.${i}`;
    if (seen.has(m)) {
      issues.push({ path, message: `${showValue(m)} is listed twice` });
      return;
    }
    seen.add(m);
    if (spec.clusters[m] === undefined) {
      issues.push({ path, message: `${showValue(m)} is not a cluster of this spec (${known})` });
    } else if (m === k.cluster) {
      issues.push({
        path,
        message: `${showValue(m)} hosts Karmada (karmada.cluster); the management cluster is never a member`,
      });
    }
  });
  if (!(VALIDATED_CHART_VERSIONS as readonly string[]).includes(k.chartVersion)) {
    issues.push({
      path: "karmada.chartVersion",
      message:
        `${showValue(k.chartVersion)} is not a chart version this program's values were checked against ` +
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
