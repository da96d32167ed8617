/**
 * Kubeconfig rewrites as pure functions over kubeconfig YAML text: the Karmada API kubeconfig pointed at the
 * NodePort, and the merged file the MLSysOps CLI loads (contexts karmada-apiserver, karmada-host and one per member,
 * as the original testbed's `kubectl config view --flatten` produced; README, "Karmada"). Kubeconfigs carry
 * credentials: no error message here quotes their content.
 */
import { parse, stringify } from "yaml";

/** Context name of the Karmada API in the chart's karmada-kubeconfig Secret (templates/karmada-kubeconfig.yaml). */
export const KARMADA_API_CONTEXT = "karmada-apiserver";
/** Context name of the mgmt cluster (the Karmada host's k3s) in the merged kubeconfig. */
export const KARMADA_HOST_CONTEXT = "karmada-host";

interface Named {
  name: string;
  [key: string]: unknown;
}
interface Kubeconfig {
  apiVersion?: string;
  kind?: string;
  clusters?: (Named & { cluster?: Record<string, unknown> })[];
  users?: (Named & { user?: Record<string, unknown> })[];
  contexts?: (Named & { context?: { cluster?: string; user?: string; [key: string]: unknown } })[];
  "current-context"?: string;
  [key: string]: unknown;
}

function load(text: string, what: string): Kubeconfig {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch {
    throw new Error(`${what}: not valid YAML`);
  }
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) throw new Error(`${what}: not a kubeconfig`);
  const config = doc as Kubeconfig;
  if (!Array.isArray(config.clusters) || config.clusters.length === 0) throw new Error(`${what}: has no clusters`);
  return config;
}

function dump(config: Kubeconfig): string {
  return stringify(config, { lineWidth: 0 });
}

/** https://<host>:<port>, with brackets for an IPv6 literal. */
export function apiServerUrl(host: string, port: number): string {
  if (host === "") throw new Error("the API host is empty");
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`port ${port} is not a TCP port`);
  return `https://${host.includes(":") ? `[${host}]` : host}:${port}`;
}

/** Every cluster's server set to `server`. */
export function rewriteServer(text: string, server: string, what = "kubeconfig"): string {
  const config = load(text, what);
  for (const c of config.clusters ?? []) c.cluster = { ...(c.cluster ?? {}), server };
  return dump(config);
}

/**
 * The chart's karmada-kubeconfig (server https://karmada-apiserver.karmada-system.svc.cluster.local:5443, reachable
 * only inside the mgmt cluster) pointed at https://<host>:<nodePort>, as the original testbed's sed did. The
 * certificate covers <host> because the values add it to certs.auto.hosts.
 */
export function karmadaApiKubeconfig(text: string, host: string, nodePort: number): string {
  return rewriteServer(text, apiServerUrl(host, nodePort), "Karmada API kubeconfig");
}

/**
 * A single-context kubeconfig (k3s writes cluster, user and context `default`, server https://127.0.0.1:6443) with
 * everything renamed to `name` and, when given, the server replaced.
 */
export function renameKubeconfig(text: string, name: string, what: string, server?: string): string {
  const config = load(text, what);
  if (config.clusters?.length !== 1 || config.users?.length !== 1 || config.contexts?.length !== 1) {
    throw new Error(`${what}: expected exactly one cluster, user and context`);
  }
  const [cluster] = config.clusters;
  const [user] = config.users;
  const [context] = config.contexts;
  cluster.name = name;
  if (server !== undefined) cluster.cluster = { ...(cluster.cluster ?? {}), server };
  user.name = name;
  context.name = name;
  context.context = { ...(context.context ?? {}), cluster: name, user: name };
  config["current-context"] = name;
  return dump(config);
}

export interface MergeInput {
  /** The Karmada API kubeconfig, server already rewritten (karmadaApiKubeconfig). */
  karmadaApi: string;
  /** The mgmt cluster's k3s kubeconfig, server already reachable from outside. */
  karmadaHost: string;
  /** Per member: the context name and its k3s kubeconfig, server already reachable. */
  members: { name: string; kubeconfig: string }[];
}

/**
 * The merged kubeconfig the MLSysOps CLI expects in $KUBECONFIG: contexts karmada-apiserver, karmada-host and one
 * per member, each with its own cluster and user entry; current context karmada-apiserver.
 */
export function mergedKubeconfig(input: MergeInput): string {
  const parts: Kubeconfig[] = [
    load(renameKubeconfig(input.karmadaApi, KARMADA_API_CONTEXT, "Karmada API kubeconfig"), "Karmada API kubeconfig"),
    load(renameKubeconfig(input.karmadaHost, KARMADA_HOST_CONTEXT, "karmada-host kubeconfig"), "karmada-host"),
    ...input.members.map((m) => {
      const what = `member ${m.name} kubeconfig`;
      return load(renameKubeconfig(m.kubeconfig, m.name, what), what);
    }),
  ];
  const seen = new Set<string>();
  for (const p of parts) {
    const name = p.contexts?.[0]?.name ?? "";
    if (seen.has(name)) throw new Error(`merged kubeconfig: context "${name}" appears twice`);
    seen.add(name);
  }
  return dump({
    apiVersion: "v1",
    kind: "Config",
    clusters: parts.flatMap((p) => p.clusters ?? []),
    users: parts.flatMap((p) => p.users ?? []),
    contexts: parts.flatMap((p) => p.contexts ?? []),
    "current-context": KARMADA_API_CONTEXT,
    preferences: {},
  });
}

/** The server of the context `name` (or the current context), e.g. for a Cluster's apiEndpoint. */
export function kubeconfigServer(text: string, what: string, name?: string): string {
  const config = load(text, what);
  const contextName = name ?? config["current-context"];
  const context = config.contexts?.find((c) => c.name === contextName);
  const clusterName = context?.context?.cluster ?? (config.clusters?.length === 1 ? config.clusters[0].name : "");
  const server = config.clusters?.find((c) => c.name === clusterName)?.cluster?.server;
  if (typeof server !== "string" || server === "") throw new Error(`${what}: no server for context "${contextName}"`);
  return server;
}
