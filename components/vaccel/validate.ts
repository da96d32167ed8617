/**
 * Checks of testbed:vaccel against the rest of the spec, as pure functions reporting every problem together; each
 * names the field, quotes the (masked) value and says what is allowed (CONTRIBUTING.md, "Errors").
 */
import type { KarmadaSpec, VaccelSpec } from "../spec/schema";
import type { SpecIssue } from "../spec/load";
import { showValue } from "../spec/mask";

/** Boards with a GPU the RPC agent can use: the schema's only one is the Jetson. */
export const GPU_BOARDS = ["jetson"] as const;

/**
 * The image reference grammar of distribution/reference (reference.go, the grammar in its package comment, and
 * regexp.go): name [":" tag] ["@" digest], the name an optional domain and "/", then lower-case path components;
 * at most 255 characters of name (NameTotalLengthMax). containerd and the kubelet parse references with it, so a
 * reference it refuses never pulls.
 */
const DOMAIN_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const DOMAIN = `${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*(?::[0-9]+)?`;
const PATH_COMPONENT = "[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*";
const NAME = new RegExp(`^(?:${DOMAIN}/)?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*$`);
const NAME_MAX = 255;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;

/**
 * Why an image reference cannot be deployed as a pinned image, or undefined when it can: it must parse, and carry a
 * tag other than `latest` or a sha256 digest, so that a re-run deploys the same bits.
 */
export function imagePinError(image: string): string | undefined {
  const shown = showValue(image);
  if (/[<>]/.test(image))
    return `${shown} is a placeholder: put the reference of the image you built or mirrored, pinned by a version tag or a sha256 digest`;
  if (image === "") return `${shown} is not an image reference: it is empty`;
  if (/\s/.test(image)) return `${shown} is not an image reference: it holds white space`;
  const at = image.indexOf("@");
  const named = at === -1 ? image : image.slice(0, at);
  const digest = at === -1 ? undefined : image.slice(at + 1);
  const slash = named.lastIndexOf("/");
  const colon = named.lastIndexOf(":");
  const name = colon > slash ? named.slice(0, colon) : named;
  const tag = colon > slash ? named.slice(colon + 1) : undefined;
  if (!NAME.test(name) || name.length > NAME_MAX)
    return (
      `${shown} is not an image reference: the name must be an optional registry host[:port] and "/", then ` +
      "'/'-separated path components of lower-case letters and digits, joined inside by '.', '_', '__' or dashes " +
      "(at most 255 characters)"
    );
  if (tag !== undefined && !TAG.test(tag))
    return `${shown}: the tag ${showValue(tag)} is not a tag (letters, digits, '_', '.' or '-', at most 128, not starting with '.' or '-')`;
  if (digest !== undefined)
    return DIGEST.test(digest) ? undefined : `${shown}: the digest is not sha256:<64 hex digits>`;
  if (tag === undefined)
    return `${shown} has no tag or digest: pin it by a version tag (name:<version>) or a digest (name@sha256:<digest>)`;
  if (tag === "latest") return `${shown} uses the moving tag latest: pin a version tag or a sha256 digest`;
  return undefined;
}

export interface VaccelSpecInput {
  hosts: Record<string, { board: string }>;
  clusters: Record<string, { server: string; agents: string[] }>;
  karmada?: KarmadaSpec;
  vaccel?: VaccelSpec;
}

/** The cluster a host runs k3s in (server or agent), if any: the first, for a host wrongly in two. */
export function clusterOfHost(clusters: VaccelSpecInput["clusters"], host: string): string | undefined {
  return clustersOfHost(clusters, host)[0];
}

function clustersOfHost(clusters: VaccelSpecInput["clusters"], host: string): string[] {
  return Object.entries(clusters)
    .filter(([, c]) => c.server === host || c.agents.includes(host))
    .map(([name]) => name);
}

function names(list: string[]): string {
  return list.map((n) => showValue(n)).join(", ") || "none";
}

export function vaccelSpecIssues(spec: VaccelSpecInput): SpecIssue[] {
  const v = spec.vaccel;
  if (v === undefined) return [];
  const issues: SpecIssue[] = [];
  if (spec.karmada === undefined) {
    issues.push({
      path: "vaccel",
      message: "needs testbed:karmada: the pipeline is created through the Karmada API and propagated to a member",
    });
  }
  const members = spec.karmada?.members ?? [];
  /** The member cluster of each node whose placement is right so far: the same-cluster rule compares only those. */
  const placed: Record<string, string | undefined> = {};
  for (const field of ["clientNode", "gpuNode"] as const) {
    const host = v[field];
    const path = `vaccel.${field}`;
    const h = spec.hosts[host];
    if (h === undefined) {
      issues.push({
        path,
        message: `${showValue(host)} is not a host or VM of this spec (known: ${names(Object.keys(spec.hosts))})`,
      });
      continue;
    }
    const inClusters = clustersOfHost(spec.clusters, host);
    const cluster = inClusters[0];
    if (inClusters.length > 1) {
      // A node of two clusters is an error of testbed:clusters already; its placement here would only echo it.
    } else if (cluster === undefined) {
      issues.push({
        path,
        message: `${showValue(host)} is a node of no cluster: it must run k3s in a Karmada member cluster`,
      });
    } else if (spec.karmada !== undefined && !members.includes(cluster)) {
      issues.push({
        path,
        message: `${showValue(host)} is in cluster ${showValue(cluster)}, which is not a Karmada member (karmada.members: ${names(members)})`,
      });
    } else placed[field] = cluster;
    if (field === "gpuNode" && !(GPU_BOARDS as readonly string[]).includes(h.board)) {
      issues.push({
        path,
        message: `${showValue(host)} has board ${showValue(h.board)}, which has no GPU for the RPC agent (GPU boards: ${GPU_BOARDS.join(", ")})`,
      });
    }
  }
  if (v.clientNode === v.gpuNode) {
    // backend remote would then be the same machine as local: the demo's switch would show nothing.
    issues.push({
      path: "vaccel.clientNode",
      message: `${showValue(v.clientNode)} is also vaccel.gpuNode: the app must run on another node than the GPU agent it offloads to`,
    });
  } else if (placed.clientNode !== undefined && placed.gpuNode !== undefined && placed.clientNode !== placed.gpuNode) {
    issues.push({
      path: "vaccel.clientNode",
      message:
        `${showValue(v.clientNode)} is in cluster ${showValue(placed.clientNode)}, vaccel.gpuNode ${showValue(v.gpuNode)} in ` +
        `${showValue(placed.gpuNode)}: both must be in one member cluster, as the app reaches the agent through a Service of its cluster`,
    });
  }
  for (const field of ["agentImage", "appImage"] as const) {
    const error = imagePinError(v[field]);
    if (error !== undefined) issues.push({ path: `vaccel.${field}`, message: error });
  }
  return issues;
}
