import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { z } from "zod";
import {
  type ClusterSpec,
  type DiskGateSpec,
  type HypervisorSpec,
  type KarmadaSpec,
  type RawSpec,
  type VaccelSpec,
  type ZfsSpec,
  rawSpecSchema,
} from "./schema";
import { cidrsOverlap } from "./net";

/** One problem in the spec: where (dotted path under the `testbed:` config namespace) and what. */
export interface SpecIssue {
  path: string;
  message: string;
}

/** Every problem found in a spec, reported together before any host is touched. */
export class SpecError extends Error {
  constructor(readonly issues: SpecIssue[]) {
    super(`the testbed spec has ${issues.length} error(s):\n${issues.map((i) => `  ${formatIssue(i)}`).join("\n")}`);
  }
}

export function formatIssue(issue: SpecIssue): string {
  return `${issue.path}: ${issue.message}`;
}

export interface HostSpec {
  name: string;
  /** A physical machine, or a VM the provisioner creates on a hypervisor. */
  kind: "machine" | "vm";
  /** Undefined for a VM whose address Incus assigns: known only once it runs. */
  address?: string;
  port: number;
  user: string;
  /** Secret: wrap in pulumi.secret before it reaches a resource. */
  privateKey: string;
  /** Secret. */
  sudoPassword?: string;
  /** Pinned host key (authorized_keys format). Undefined for VMs: read from the hypervisor after launch. */
  hostKey?: string;
  jump?: string;
  arch: "amd64" | "arm64";
  board: "generic" | "raspberry-pi" | "jetson";
  labels: Record<string, string>;
  hypervisor?: HypervisorSpec;
  vm?: VmSpec;
}

export interface VmSpec {
  hypervisor: string;
  cpus: number;
  memory: string;
  disk: string;
  image: string;
  storagePool: string;
  address?: string;
  gateway?: string;
  prefixLength: number;
}

export interface TestbedSpec {
  hosts: Record<string, HostSpec>;
  clusters: Record<string, ClusterSpec>;
  zfs: ZfsSpec & { resolvedProperties: Record<string, string> };
  diskGate: DiskGateSpec;
  karmada?: KarmadaSpec;
  vaccel?: VaccelSpec;
  /** Problems that do not stop validate or plan but will stop pulumi up (unreadable key files). */
  warnings: SpecIssue[];
}

/** The incident's four properties (research/incident-etcd-disks.txt). */
export const ZFS_PROFILES: Record<ZfsSpec["profile"], Record<string, string>> = {
  demo: { sync: "disabled", compression: "lz4", atime: "off", recordsize: "8k" },
  durable: { compression: "lz4", atime: "off", recordsize: "8k" },
  none: {},
};

export interface LoadOptions {
  /** Relative *File paths are resolved against this directory. Defaults to the current directory. */
  baseDir?: string;
  /** Reads a secret or key file. Defaults to fs.readFileSync; tests substitute it. */
  readFile?: (file: string) => string;
  /**
   * What an unreadable key or password file is: an error (pulumi up, which needs it) or a warning
   * (validate and plan, which may run on a machine that does not hold the keys). Defaults to error.
   */
  unreadableFiles?: "error" | "warn";
}

const SECRET_FIELDS = new Set(["privateKey", "sudoPassword"]);

/** Validates raw stack config (the values of the `testbed:*` keys) into a TestbedSpec, or throws SpecError. */
export function loadSpec(raw: Record<string, unknown>, options: LoadOptions = {}): TestbedSpec {
  const parsed = rawSpecSchema.safeParse(raw, { reportInput: true });
  if (!parsed.success) throw new SpecError([...parsed.error.issues.map(zodIssue), ...checkNamesLoosely(raw)]);
  const issues: SpecIssue[] = [];
  const warnings: SpecIssue[] = [];
  const spec = resolve(parsed.data, options, issues, warnings);
  checkReferences(spec, parsed.data, issues);
  if (issues.length > 0) throw new SpecError(issues);
  return spec;
}

/** Like loadSpec, but returns the issues instead of throwing. */
export function validateSpec(
  raw: Record<string, unknown>,
  options: LoadOptions = {},
): { spec?: TestbedSpec; issues: SpecIssue[] } {
  try {
    return { spec: loadSpec(raw, options), issues: [] };
  } catch (err) {
    if (err instanceof SpecError) return { issues: err.issues };
    throw err;
  }
}

function zodIssue(issue: z.core.$ZodIssue): SpecIssue {
  const where = issue.path.map(String).join(".");
  const field = String(issue.path[issue.path.length - 1] ?? "");
  let message = issue.message;
  if (issue.input === undefined && issue.code !== "unrecognized_keys" && issue.code !== "custom")
    return { path: where, message: "is required" };
  switch (issue.code) {
    case "unrecognized_keys":
      return {
        path: where || "(top level)",
        message: `unknown setting(s) ${issue.keys.map((k) => JSON.stringify(k)).join(", ")}; check the spelling against README.md, "Settings"`,
      };
    case "invalid_type":
      message = `expected ${issue.expected}`;
      break;
    case "invalid_value":
      message = `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}`;
      break;
    case "invalid_key":
      return { path: where, message: `has an invalid name: ${issue.issues.map((i) => i.message).join("; ")}` };
    default:
      break;
  }
  const shown = SECRET_FIELDS.has(field) ? "(secret)" : JSON.stringify(issue.input);
  return { path: where, message: `${shown} ${message.replace(/^Invalid input: /, "")}` };
}

function expandHome(file: string): string {
  return file === "~" || file.startsWith("~/") ? path.join(os.homedir(), file.slice(1)) : file;
}

function resolve(raw: RawSpec, options: LoadOptions, issues: SpecIssue[], warnings: SpecIssue[]): TestbedSpec {
  const baseDir = options.baseDir ?? process.cwd();
  const read = options.readFile ?? ((f: string) => fs.readFileSync(f, "utf8"));
  const readSecret = (where: string, file: string): string | undefined => {
    const full = path.resolve(baseDir, expandHome(file));
    try {
      return read(full);
    } catch (err) {
      const issue = { path: where, message: `${JSON.stringify(file)} cannot be read (${(err as Error).message})` };
      if (options.unreadableFiles === "warn")
        warnings.push({ ...issue, message: `${issue.message}; pulumi up needs it` });
      else issues.push(issue);
      return undefined;
    }
  };
  /** Exactly one of `field` and `${field}File`; returns the value or undefined (an issue is recorded). */
  const oneOf = (
    where: string,
    inline: string | undefined,
    file: string | undefined,
    field: string,
    required: string | undefined,
  ): string | undefined => {
    if (inline !== undefined && file !== undefined) {
      issues.push({ path: `${where}.${field}`, message: `set either ${field} or ${field}File, not both` });
      return undefined;
    }
    if (inline !== undefined) return inline;
    if (file !== undefined) return readSecret(`${where}.${field}File`, file)?.trim();
    if (required) issues.push({ path: `${where}.${field}`, message: required });
    return undefined;
  };

  const hosts: Record<string, HostSpec> = {};
  for (const [name, h] of Object.entries(raw.hosts)) {
    const where = `hosts.${name}`;
    const privateKey = oneOf(
      where,
      h.privateKey,
      h.privateKeyFile,
      "privateKey",
      "is required: set privateKeyFile to the SSH private key's path, or `pulumi config set --secret --path testbed:hosts." +
        `${name}.privateKey < key\``,
    );
    const hostKey = oneOf(
      where,
      h.hostKey,
      h.hostKeyFile,
      "hostKey",
      `is required: pin the host's key, e.g. the output of \`ssh-keyscan -t ed25519 ${h.address}\``,
    );
    if (
      hostKey !== undefined &&
      !/^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/=]+/.test(hostKey)
    ) {
      issues.push({
        path: `${where}.hostKey`,
        message: `${JSON.stringify(hostKey.slice(0, 40))} is not an SSH public key in authorized_keys format ("ssh-ed25519 AAAA...")`,
      });
    }
    hosts[name] = {
      name,
      kind: "machine",
      address: h.address,
      port: h.port,
      user: h.user,
      privateKey: privateKey?.endsWith("\n") === false ? `${privateKey}\n` : (privateKey ?? ""),
      sudoPassword: oneOf(where, h.sudoPassword, h.sudoPasswordFile, "sudoPassword", undefined),
      hostKey: hostKey?.split(/\s+/).slice(0, 2).join(" "),
      jump: h.jump,
      arch: h.arch,
      board: h.board,
      labels: h.labels,
      hypervisor: h.hypervisor,
    };
  }
  for (const [name, v] of Object.entries(raw.vms)) {
    const where = `vms.${name}`;
    if (raw.hosts[name]) {
      issues.push({
        path: where,
        message: `${JSON.stringify(name)} is already a host name; VM and host names share one namespace`,
      });
      continue;
    }
    const hv = hosts[v.hypervisor];
    const ownKey = oneOf(where, v.privateKey, v.privateKeyFile, "privateKey", undefined);
    hosts[name] = {
      name,
      kind: "vm",
      address: v.address,
      port: 22,
      user: v.user,
      privateKey: ownKey ?? hv?.privateKey ?? "",
      jump: v.hypervisor,
      arch: v.arch,
      board: "generic",
      labels: v.labels,
      vm: {
        hypervisor: v.hypervisor,
        cpus: v.cpus,
        memory: v.memory,
        disk: v.disk,
        image: v.image,
        storagePool: v.storagePool ?? hv?.hypervisor?.storagePool ?? "default",
        address: v.address,
        gateway: v.gateway,
        prefixLength: v.prefixLength,
      },
    };
  }
  const clusters: Record<string, ClusterSpec> = {};
  for (const [name, c] of Object.entries(raw.clusters)) clusters[name] = { ...c, name };
  const resolvedProperties = raw.zfs.properties ?? ZFS_PROFILES[raw.zfs.profile];
  return {
    hosts,
    clusters,
    zfs: { ...raw.zfs, resolvedProperties },
    diskGate: raw.diskGate,
    karmada: raw.karmada,
    vaccel: raw.vaccel,
    warnings,
  };
}

/**
 * When the schema already failed, the detailed checks cannot run; the name references still can, so a user sees
 * a typo in karmada.members in the same run as a bad address.
 */
function checkNamesLoosely(raw: Record<string, unknown>): SpecIssue[] {
  const obj = (v: unknown): Record<string, unknown> =>
    typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
  const nodes = [...Object.keys(obj(raw.hosts)), ...Object.keys(obj(raw.vms))];
  const clusters = Object.keys(obj(raw.clusters));
  const issues: SpecIssue[] = [];
  const check = (where: string, ref: unknown, known: string[], what: string) => {
    if (typeof ref === "string" && !known.includes(ref))
      issues.push({
        path: where,
        message: `${JSON.stringify(ref)} is not a ${what} of this spec (known: ${known.map((n) => JSON.stringify(n)).join(", ") || "none"})`,
      });
  };
  for (const [name, vm] of Object.entries(obj(raw.vms)))
    check(`vms.${name}.hypervisor`, obj(vm).hypervisor, Object.keys(obj(raw.hosts)), "host");
  for (const [name, c] of Object.entries(obj(raw.clusters))) {
    check(`clusters.${name}.server`, obj(c).server, nodes, "host or VM");
    list(obj(c).agents).forEach((a, i) => check(`clusters.${name}.agents.${i}`, a, nodes, "host or VM"));
  }
  const karmada = obj(raw.karmada);
  check("karmada.cluster", karmada.cluster, clusters, "cluster");
  list(karmada.members).forEach((m, i) => check(`karmada.members.${i}`, m, clusters, "cluster"));
  check("vaccel.clientNode", obj(raw.vaccel).clientNode, nodes, "host or VM");
  check("vaccel.gpuNode", obj(raw.vaccel).gpuNode, nodes, "host or VM");
  return issues;
}

function checkReferences(spec: TestbedSpec, raw: RawSpec, issues: SpecIssue[]): void {
  const hostNames = Object.keys(spec.hosts);
  const known = (n: string) => spec.hosts[n] !== undefined;
  const allowed = () => hostNames.map((n) => JSON.stringify(n)).join(", ");
  const unknown = (where: string, ref: string, what = "host or VM") =>
    issues.push({ path: where, message: `${JSON.stringify(ref)} is not a ${what} of this spec (known: ${allowed()})` });

  // Duplicate addresses: two entries for one machine would provision it twice.
  const byAddress = new Map<string, string>();
  for (const h of Object.values(spec.hosts)) {
    if (h.address === undefined) continue;
    const key = `${h.address}:${h.port}:${h.jump ?? ""}`;
    const other = byAddress.get(key);
    if (other !== undefined) {
      const where = h.kind === "vm" ? `vms.${h.name}.address` : `hosts.${h.name}.address`;
      issues.push({
        path: where,
        message: `${JSON.stringify(h.address)} is also the address of ${JSON.stringify(other)}`,
      });
    } else byAddress.set(key, h.name);
  }

  for (const h of Object.values(spec.hosts)) {
    if (h.kind !== "machine" || h.jump === undefined) continue;
    const where = `hosts.${h.name}.jump`;
    if (!known(h.jump)) unknown(where, h.jump);
    else if (h.jump === h.name) issues.push({ path: where, message: `${JSON.stringify(h.jump)} is the host itself` });
    else if (spec.hosts[h.jump].jump !== undefined)
      issues.push({
        path: where,
        message: `${JSON.stringify(h.jump)} is itself reached through a jump host; only one hop is supported (as in pulumi-command)`,
      });
  }

  for (const [name, v] of Object.entries(raw.vms)) {
    const where = `vms.${name}.hypervisor`;
    const hv = spec.hosts[v.hypervisor];
    if (hv === undefined) unknown(where, v.hypervisor, "host");
    else if (hv.kind !== "machine" || hv.hypervisor === undefined)
      issues.push({
        path: where,
        message: `${JSON.stringify(v.hypervisor)} is not a hypervisor; add \`hypervisor: { kind: incus }\` to hosts.${v.hypervisor}`,
      });
    else if (hv.jump !== undefined)
      issues.push({
        path: where,
        message: `${JSON.stringify(v.hypervisor)} is reached through a jump host; a VM's hypervisor must be reachable directly`,
      });
  }

  const nodeOf = new Map<string, string>();
  const claim = (where: string, node: string, cluster: string) => {
    if (!known(node)) {
      unknown(where, node);
      return;
    }
    const prev = nodeOf.get(node);
    if (prev !== undefined)
      issues.push({
        path: where,
        message: `${JSON.stringify(node)} is already a node of cluster ${JSON.stringify(prev)}`,
      });
    else nodeOf.set(node, cluster);
  };
  const cidrs: { where: string; cidr: string }[] = [];
  for (const c of Object.values(spec.clusters)) {
    claim(`clusters.${c.name}.server`, c.server, c.name);
    c.agents.forEach((a, i) => claim(`clusters.${c.name}.agents.${i}`, a, c.name));
    cidrs.push({ where: `clusters.${c.name}.podCidr`, cidr: c.podCidr });
    cidrs.push({ where: `clusters.${c.name}.serviceCidr`, cidr: c.serviceCidr });
  }
  for (let i = 0; i < cidrs.length; i++)
    for (let j = 0; j < i; j++)
      if (cidrsOverlap(cidrs[i].cidr, cidrs[j].cidr))
        issues.push({
          path: cidrs[i].where,
          message: `${JSON.stringify(cidrs[i].cidr)} overlaps ${cidrs[j].where} (${cidrs[j].cidr}); pod and service ranges must not overlap within or between clusters`,
        });

  const props = spec.zfs.resolvedProperties;
  if (props.sync === "disabled" && !spec.zfs.acknowledgeSyncDisabled)
    issues.push({
      path: "zfs.acknowledgeSyncDisabled",
      message:
        `must be true to apply sync=disabled (profile ${JSON.stringify(spec.zfs.profile)}${raw.zfs.properties ? ", explicit properties" : ""}): ` +
        "ZFS then acknowledges writes before they reach the disk, and a power loss can lose the last seconds of etcd's data. " +
        'Use profile "durable" to keep sync on.',
    });

  if (spec.diskGate.warnMs >= spec.diskGate.failMs)
    issues.push({
      path: "diskGate.warnMs",
      message: `${spec.diskGate.warnMs} must be below diskGate.failMs (${spec.diskGate.failMs})`,
    });
  spec.diskGate.accept.forEach((a, i) => {
    if (!known(a)) unknown(`diskGate.accept.${i}`, a);
  });

  const k = spec.karmada;
  if (k !== undefined) {
    const clusterNames = () =>
      Object.keys(spec.clusters)
        .map((n) => JSON.stringify(n))
        .join(", ") || "none";
    if (spec.clusters[k.cluster] === undefined)
      issues.push({
        path: "karmada.cluster",
        message: `${JSON.stringify(k.cluster)} is not a cluster of this spec (known: ${clusterNames()})`,
      });
    k.members.forEach((m, i) => {
      if (spec.clusters[m] === undefined)
        issues.push({
          path: `karmada.members.${i}`,
          message: `${JSON.stringify(m)} is not a cluster of this spec (known: ${clusterNames()})`,
        });
      else if (m === k.cluster)
        issues.push({
          path: `karmada.members.${i}`,
          message: `${JSON.stringify(m)} hosts Karmada itself; Karmada's host cluster cannot be its own member`,
        });
    });
  }

  const v = spec.vaccel;
  if (v !== undefined) {
    for (const field of ["clientNode", "gpuNode"] as const) {
      const node = v[field];
      if (!known(node)) unknown(`vaccel.${field}`, node);
      else if (!nodeOf.has(node))
        issues.push({ path: `vaccel.${field}`, message: `${JSON.stringify(node)} is not a node of any cluster` });
      else if (k !== undefined && !k.members.includes(nodeOf.get(node) as string))
        issues.push({
          path: `vaccel.${field}`,
          message: `${JSON.stringify(node)} is in cluster ${JSON.stringify(nodeOf.get(node))}, which is not a Karmada member`,
        });
    }
    if (v.clientNode === v.gpuNode)
      issues.push({ path: "vaccel.gpuNode", message: `${JSON.stringify(v.gpuNode)} is also the client node` });
  }
}
