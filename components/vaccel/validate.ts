/**
 * Checks of testbed:vaccel against the rest of the spec, as pure functions reporting every problem together; each
 * names the field and the value and says what is allowed.
 */
import type { KarmadaSpec, VaccelSpec } from "../spec/schema";
import type { SpecIssue } from "../spec/load";

/** Boards with a GPU the RPC agent can use: the schema's only one is the Jetson. */
export const GPU_BOARDS = ["jetson"] as const;

const DIGEST = /^sha256:[a-f0-9]{64}$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

/**
 * Why an image reference is not pinned, or undefined when it is: it needs a tag other than `latest` or a sha256
 * digest, so that a re-run deploys the same bits. Grammar: distribution/reference (name[:tag][@digest]).
 */
export function imagePinError(image: string): string | undefined {
  if (image.trim() !== image || image === "" || /\s/.test(image)) return `"${image}" is not an image reference`;
  const at = image.indexOf("@");
  const name = at === -1 ? image : image.slice(0, at);
  if (at !== -1) {
    return DIGEST.test(image.slice(at + 1)) ? undefined : `"${image}": the digest is not sha256:<64 hex digits>`;
  }
  const slash = name.lastIndexOf("/");
  const colon = name.lastIndexOf(":");
  if (colon <= slash)
    return `"${image}" has no tag or digest: pin it, e.g. ${image}:<version> or ${image}@sha256:<digest>`;
  const tag = name.slice(colon + 1);
  if (!TAG.test(tag)) return `"${image}": "${tag}" is not a valid tag`;
  if (tag === "latest") return `"${image}" uses the moving tag latest: pin a version tag or a sha256 digest`;
  return undefined;
}

export interface VaccelSpecInput {
  hosts: Record<string, { board: string }>;
  clusters: Record<string, { server: string; agents: string[] }>;
  karmada?: KarmadaSpec;
  vaccel?: VaccelSpec;
}

/** The cluster a host runs k3s in (server or agent), if any. */
export function clusterOfHost(clusters: VaccelSpecInput["clusters"], host: string): string | undefined {
  return Object.entries(clusters).find(([, c]) => c.server === host || c.agents.includes(host))?.[0];
}

export function vaccelSpecIssues(spec: VaccelSpecInput): SpecIssue[] {
  const v = spec.vaccel;
  if (v === undefined) return [];
  const issues: SpecIssue[] = [];
  if (spec.karmada === undefined) {
    issues.push({ path: "vaccel", message: "needs karmada: the pipeline is created through the Karmada API" });
  }
  const members = spec.karmada?.members ?? [];
  const placed: Record<string, string | undefined> = {};
  for (const field of ["clientNode", "gpuNode"] as const) {
    const host = v[field];
    const path = `vaccel.${field}`;
    const h = spec.hosts[host];
    if (h === undefined) {
      issues.push({
        path,
        message: `"${host}" is not a host of the spec (hosts: ${Object.keys(spec.hosts).join(", ")})`,
      });
      continue;
    }
    const cluster = clusterOfHost(spec.clusters, host);
    placed[field] = cluster;
    if (cluster === undefined) {
      issues.push({ path, message: `"${host}" is in no cluster: it must run k3s in a Karmada member cluster` });
    } else if (spec.karmada !== undefined && !members.includes(cluster)) {
      issues.push({
        path,
        message: `"${host}" is in cluster "${cluster}", which is not a Karmada member (karmada.members: ${members.join(", ") || "none"})`,
      });
    }
    if (field === "gpuNode" && !(GPU_BOARDS as readonly string[]).includes(h.board)) {
      issues.push({
        path,
        message: `"${host}" has board "${h.board}", which has no GPU for the RPC agent (GPU boards: ${GPU_BOARDS.join(", ")})`,
      });
    }
  }
  if (placed.clientNode !== undefined && placed.gpuNode !== undefined && placed.clientNode !== placed.gpuNode) {
    issues.push({
      path: "vaccel",
      message:
        `clientNode "${v.clientNode}" (cluster "${placed.clientNode}") and gpuNode "${v.gpuNode}" (cluster ` +
        `"${placed.gpuNode}") must be in the same member cluster: the app reaches the agent through a cluster Service`,
    });
  }
  for (const field of ["agentImage", "appImage"] as const) {
    const error = imagePinError(v[field]);
    if (error !== undefined) issues.push({ path: `vaccel.${field}`, message: error });
  }
  return issues;
}
