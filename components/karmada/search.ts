/**
 * karmada-search's ResourceRegistry. The original testbed asked for "the resource registry" with the Helm value
 * `search.enableResourceRegistry: true`, which chart 1.13.0 does not declare: Helm dropped it silently, and no
 * registry existed. The registry is an object of the search API instead. Without one, karmada-search's proxy sends
 * every request to karmada-apiserver (pkg/search/proxy/framework/plugins/karmada/karmada.go at v1.13.0: "resources
 * [...] not defined in ResourceRegistry, we redirect the requests to karmada apiserver"), so the MLSysOps CLI's
 * `/apis/search.karmada.io/v1alpha1/proxying/karmada/proxy/api/v1/namespaces/<ns>/pods` would list no member pods.
 */

/** Name of the registry the testbed creates. */
export const RESOURCE_REGISTRY_NAME = "testbed";

/** What the MLSysOps CLI reads through the proxy (mlsysops-cli deploy.py lists pods). */
export const CACHED_RESOURCES = [{ apiVersion: "v1", kind: "Pod" }] as const;

export interface ResourceRegistry {
  apiVersion: "search.karmada.io/v1alpha1";
  kind: "ResourceRegistry";
  metadata: { name: string; labels?: Record<string, string> };
  spec: {
    targetCluster: { clusterNames: string[] };
    resourceSelectors: { apiVersion: string; kind: string; namespace?: string }[];
  };
}

/** The ResourceRegistry caching the members' pods for the search proxy (cluster-scoped). */
export function resourceRegistry(members: readonly string[]): ResourceRegistry {
  if (members.length === 0) throw new Error("karmada.members: a resource registry needs at least one member");
  return {
    apiVersion: "search.karmada.io/v1alpha1",
    kind: "ResourceRegistry",
    metadata: { name: RESOURCE_REGISTRY_NAME },
    spec: {
      targetCluster: { clusterNames: [...members] },
      resourceSelectors: CACHED_RESOURCES.map((r) => ({ ...r })),
    },
  };
}
