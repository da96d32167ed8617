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
  SPEC_KEYS,
  type VaccelSpec,
  type ZfsSpec,
  clusterSchema,
  diskGateSchema,
  hostSchema,
  hypervisorSchema,
  karmadaSchema,
  karmadaTimeoutsSchema,
  rawSpecSchema,
  vaccelSchema,
  vmSchema,
  zfsSchema,
} from "./schema";
import { cidrsOverlap } from "./net";
import { karmadaSpecIssues } from "../karmada/validate";
import { vaccelSpecIssues } from "../vaccel/validate";
import { maskText, showValue } from "./mask";

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

/** One line per issue. Every message passes maskText, the last net under showValue: no secret is ever printed. */
export function formatIssue(issue: SpecIssue): string {
  return maskText(`${issue.path}: ${issue.message}`);
}

/** Shows a list of names (host names, cluster names) in a message. */
function showNames(names: string[], path: readonly PropertyKey[]): string {
  return names.map((n) => showValue(n, path)).join(", ") || "none";
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

/** What a stack's settings look like, for a spec that has none. */
export const SPEC_SHAPE = `a stack file holds the spec under \`config:\`, one \`testbed:<setting>\` key per setting, e.g.
    config:
      testbed:hosts:
        nuc:
          address: 192.168.1.10
          privateKeyFile: ~/.ssh/id_ed25519
          hostKey: ssh-ed25519 AAAA...
  (README.md, "Settings", lists every setting)`;

/** Validates raw stack config (the values of the `testbed:*` keys) into a TestbedSpec, or throws SpecError. */
export function loadSpec(raw: Record<string, unknown>, options: LoadOptions = {}): TestbedSpec {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw) || Object.keys(raw).length === 0)
    throw new SpecError([{ path: "(top level)", message: `no testbed settings found; ${SPEC_SHAPE}` }]);
  const encoding = checkEncoding(raw);
  // A misspelt setting is read as the setting it most likely means, so its own errors still show and the errors
  // that only follow from the misspelling (a required setting "missing", references to hosts "unknown") do not.
  const { fixed, issues: typos } = readMisspelt(raw);
  const parsed = rawSpecSchema.safeParse(fixed, { reportInput: true });
  if (!parsed.success)
    throw new SpecError([...typos, ...encoding, ...parsed.error.issues.map(zodIssue), ...checkNamesLoosely(fixed)]);
  const issues: SpecIssue[] = [...typos, ...encoding];
  const warnings: SpecIssue[] = [];
  const spec = resolve(parsed.data, options, issues, warnings);
  checkReferences(spec, parsed.data, issues);
  if (issues.length > 0) throw new SpecError(issues);
  return spec;
}

/** Refuses text that was not UTF-8: the decoder turned its bytes into U+FFFD, so `mlsys\xff` became `mlsys\uFFFD`. */
function checkEncoding(raw: unknown): SpecIssue[] {
  const issues: SpecIssue[] = [];
  const walk = (v: unknown, at: string[]) => {
    if (typeof v === "string") {
      if (v.includes("\uFFFD"))
        issues.push({
          path: at.join(".") || "(top level)",
          message: "holds bytes that are not UTF-8 (decoded as U+FFFD); save the stack file as UTF-8",
        });
    } else if (Array.isArray(v)) v.forEach((x, i) => walk(x, [...at, String(i)]));
    else if (typeof v === "object" && v !== null)
      for (const [k, x] of Object.entries(v)) {
        if (k.includes("\uFFFD"))
          issues.push({ path: at.join(".") || "(top level)", message: "has a key with bytes that are not UTF-8" });
        walk(x, [...at, k]);
      }
  };
  walk(raw, []);
  return issues;
}

/** The settings each object of the spec knows, by where the object sits. */
function knownKeysAt(path: string[]): readonly string[] | undefined {
  const keys = (schema: { shape: object }) => Object.keys(schema.shape);
  if (path.length === 0) return SPEC_KEYS;
  const [top, , sub] = path;
  if (path.length === 1)
    return {
      zfs: keys(zfsSchema),
      diskGate: keys(diskGateSchema),
      karmada: keys(karmadaSchema),
      vaccel: keys(vaccelSchema),
    }[top];
  if (path.length === 2 && top === "karmada" && path[1] === "timeouts") return keys(karmadaTimeoutsSchema);
  if (path.length === 2) return { hosts: keys(hostSchema), vms: keys(vmSchema), clusters: keys(clusterSchema) }[top];
  if (path.length === 3 && top === "hosts" && sub === "hypervisor") return keys(hypervisorSchema);
  return undefined;
}

/** Edit distance, case-insensitive: how far a misspelt setting is from a known one. */
function distance(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  let prev = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const row = [i];
    for (let j = 1; j <= y.length; j++)
      row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (x[i - 1] === y[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[y.length];
}

/** The known setting a misspelt one most likely means, if any is close enough. */
export function nearestKey(key: string, known: readonly string[]): string | undefined {
  if (key.length > 64) return undefined;
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(key.length / 4)) + 1;
  for (const k of known) {
    const d = distance(key, k);
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  return best;
}

/**
 * Finds settings whose names are not known. Each is reported first, with the nearest known name; where that name is
 * not also set, the value is read under it, so its own errors show and the follow-on errors do not.
 */
function readMisspelt(raw: Record<string, unknown>): { fixed: Record<string, unknown>; issues: SpecIssue[] } {
  const issues: SpecIssue[] = [];
  const isObject = (v: unknown): v is Record<string, unknown> =>
    typeof v === "object" && v !== null && !Array.isArray(v);
  const fix = (obj: Record<string, unknown>, path: string[]): Record<string, unknown> => {
    const known = knownKeysAt(path);
    const out: Record<string, unknown> = { ...obj };
    if (known !== undefined)
      for (const key of Object.keys(obj)) {
        if (known.includes(key)) continue;
        const near = nearestKey(key, known);
        if (near === undefined) continue; // the schema reports it, with the list of known settings
        const shownKey = path.length === 0 ? `testbed:${key}` : key;
        const shownNear = path.length === 0 ? `testbed:${near}` : near;
        issues.push({
          path: [...path, key].join("."),
          message: `unknown setting ${showValue(shownKey, [...path, "(key)"])}; did you mean ${JSON.stringify(shownNear)}?`,
        });
        if (obj[near] === undefined) out[near] = obj[key];
        delete out[key];
      }
    for (const [k, v] of Object.entries(out)) {
      const childPath = [...path, k];
      // Descend only where objects of known shape sit: the top, each host/VM/cluster, a host's hypervisor, and
      // karmada.timeouts.
      const descend =
        path.length === 0 ||
        (path.length === 1 && ["hosts", "vms", "clusters"].includes(path[0])) ||
        (path.length === 2 && path[0] === "hosts" && k === "hypervisor") ||
        (path.length === 1 && path[0] === "karmada" && k === "timeouts");
      if (descend && isObject(v)) out[k] = fix(v, childPath);
    }
    return out;
  };
  return { fixed: fix(raw, []), issues };
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

/** How zod's expected types read in a message. */
const EXPECTED: Record<string, string> = {
  object: "a mapping of settings",
  record: "a mapping (name: settings)",
  string: "a string",
  number: "a number",
  boolean: "true or false",
  array: "a list",
};

function zodIssue(issue: z.core.$ZodIssue): SpecIssue {
  const where = issue.path.map(String).join(".");
  let message = issue.message;
  // A required setting may say what to put there (the schema's own message, "is required: ...").
  if (issue.input === undefined && issue.code !== "unrecognized_keys" && issue.code !== "custom")
    return { path: where, message: issue.message.startsWith("is required") ? issue.message : "is required" };
  switch (issue.code) {
    case "unrecognized_keys":
      return {
        path: where || "(top level)",
        message:
          `unknown setting(s) ${issue.keys.map((k) => showValue(where ? k : `testbed:${k}`, [...issue.path, "(key)"])).join(", ")}` +
          `; known here: ${(knownKeysAt(issue.path.map(String)) ?? []).map((k) => (where ? k : `testbed:${k}`)).join(", ")} (README.md, "Settings")`,
      };
    case "invalid_type":
      message = `expected ${EXPECTED[issue.expected] ?? issue.expected}`;
      break;
    case "invalid_value":
      message = `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}`;
      break;
    case "invalid_key":
      return { path: where, message: `has an invalid name: ${issue.issues.map((i) => i.message).join("; ")}` };
    default:
      break;
  }
  return { path: where, message: `${showValue(issue.input, issue.path)} ${message.replace(/^Invalid input: /, "")}` };
}

function expandHome(file: string): string {
  return file === "~" || file.startsWith("~/") ? path.join(os.homedir(), file.slice(1)) : file;
}

/** What an unreadable file's error code means, without the system's message (which repeats the path). */
const READ_ERRORS: Record<string, string> = {
  ENOENT: "no such file",
  EACCES: "permission denied",
  EISDIR: "is a directory",
  ENOTDIR: "a part of the path is not a directory",
  ELOOP: "too many symbolic links",
};

/** The key types the provisioner pins (pulumi-command's ssh accepts these as host keys). */
const HOST_KEY_TYPES = ["ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521"];

/** The first line of a host key file that is not a comment (ssh-keyscan prints `# host:22 SSH-2.0-...` lines). */
function firstKeyLine(text: string): string | undefined {
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .find((l) => l !== "" && !l.startsWith("#"));
}

/**
 * Why a host key line is not an SSH public key, or undefined. The blob is base64 of an SSH wire-format key, which
 * starts with its own type as a length-prefixed string (RFC 4253, section 6.6): it must name the type the line says.
 */
export function hostKeyProblem(line: string): string | undefined {
  const expected = `an SSH public key in authorized_keys format ("ssh-ed25519 AAAA...", as ssh-keyscan prints it)`;
  if (/-----BEGIN/.test(line))
    return "holds a PEM block, not a public key: pin the host's public key (ssh-keyscan), and never paste a private key here";
  const [type, blob] = line.split(/\s+/);
  if (!HOST_KEY_TYPES.includes(type))
    return `${/^[A-Za-z0-9@.-]{1,64}$/.test(type) ? showValue(type, ["hostKey"]) : "the first word"} is not a key type this provisioner pins (${HOST_KEY_TYPES.join(", ")}); expected ${expected}`;
  if (blob === undefined) return `has no key after its type ${type}; expected ${expected}`;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(blob) || blob.length % 4 !== 0)
    return `the key after ${type} is not valid base64; expected ${expected}`;
  const bytes = Buffer.from(blob, "base64");
  const length = bytes.length >= 4 ? bytes.readUInt32BE(0) : -1;
  if (length < 0 || 4 + length > bytes.length) return `the key after ${type} is truncated`;
  const inner = bytes.subarray(4, 4 + length).toString("latin1");
  if (inner !== type)
    return `says ${type}, but the key is ${/^[a-z0-9@.-]{1,64}$/.test(inner) ? inner : "of no known type"}; copy the whole line again`;
  return undefined;
}

/**
 * Kubernetes' own rules for labels (apimachinery pkg/util/validation, IsQualifiedName and IsValidLabelValue): a key
 * is an optional DNS-subdomain prefix and `/`, then a name of at most 63 characters; a value is empty or a name.
 */
const LABEL_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function labelIssues(where: string, labels: Record<string, string>): SpecIssue[] {
  const issues: SpecIssue[] = [];
  const rule = "at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit";
  for (const [key, value] of Object.entries(labels)) {
    const parts = key.split("/");
    const [prefix, name] = parts.length === 2 ? parts : [undefined, parts[0]];
    if (parts.length > 2 || (prefix !== undefined && !DNS_SUBDOMAIN.test(prefix)) || !LABEL_NAME.test(name))
      issues.push({
        path: where,
        message:
          `key ${showValue(key, [where])} is not a Kubernetes label key: an optional prefix (a DNS subdomain, ` +
          `lower case, at most 253 characters) and '/', then a name of ${rule}`,
      });
    else if (value !== "" && !LABEL_NAME.test(value))
      issues.push({
        path: `${where}.${key}`,
        message: `${showValue(value, [where, key])} is not a Kubernetes label value: empty, or ${rule}`,
      });
  }
  return issues;
}

function resolve(raw: RawSpec, options: LoadOptions, issues: SpecIssue[], warnings: SpecIssue[]): TestbedSpec {
  const baseDir = options.baseDir ?? process.cwd();
  const read = options.readFile ?? ((f: string) => fs.readFileSync(f, "utf8"));
  const readSecret = (where: string, file: string): string | undefined => {
    const full = path.resolve(baseDir, expandHome(file));
    try {
      return read(full);
    } catch (err) {
      // The system's message repeats the path: say what went wrong by its code only.
      const code = (err as NodeJS.ErrnoException).code;
      const why = code !== undefined ? (READ_ERRORS[code] ?? code) : "unreadable";
      const issue = { path: where, message: `${showValue(file, where.split("."))} cannot be read (${why})` };
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
    if (file !== undefined) {
      const text = readSecret(`${where}.${field}File`, file)?.trim();
      if (text !== undefined && text.length === 0)
        issues.push({ path: `${where}.${field}File`, message: "names an empty file" });
      return text;
    }
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
    const pinned = hostKey === undefined ? undefined : firstKeyLine(hostKey);
    if (hostKey !== undefined) {
      const problem =
        pinned === undefined ? "holds no key line" : hostKeyProblem(/-----BEGIN/.test(hostKey) ? hostKey : pinned);
      if (problem !== undefined) issues.push({ path: `${where}.hostKey`, message: problem });
    }
    const sudoPassword = oneOf(where, h.sudoPassword, h.sudoPasswordFile, "sudoPassword", undefined);
    if (sudoPassword !== undefined && /[\r\n\0]/.test(sudoPassword))
      issues.push({
        path: `${where}.${h.sudoPasswordFile !== undefined ? "sudoPasswordFile" : "sudoPassword"}`,
        message: "(secret) must be one line: sudo reads the password up to the first newline",
      });
    if (h.board !== "generic" && h.arch !== "arm64")
      issues.push({
        path: `${where}.arch`,
        message: `${showValue(h.arch)} does not match board ${showValue(h.board)}, which is arm64; set arch: arm64`,
      });
    issues.push(...labelIssues(`${where}.labels`, h.labels));
    hosts[name] = {
      name,
      kind: "machine",
      address: h.address,
      port: h.port,
      user: h.user,
      privateKey: privateKey?.endsWith("\n") === false ? `${privateKey}\n` : (privateKey ?? ""),
      sudoPassword,
      hostKey: pinned?.split(/\s+/).slice(0, 2).join(" "),
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
        message: `${showValue(name)} is already a host name; VM and host names share one namespace`,
      });
      continue;
    }
    const hv = hosts[v.hypervisor];
    const ownKey = oneOf(where, v.privateKey, v.privateKeyFile, "privateKey", undefined);
    issues.push(...labelIssues(`${where}.labels`, v.labels));
    if (v.address !== undefined) {
      // The default is the one the launch step writes into cloud-init (components/vm/incus.ts).
      const gateway = v.gateway ?? v.address.replace(/\.[0-9]+$/, ".1");
      const gatewayPath = v.gateway !== undefined ? `${where}.gateway` : `${where}.address`;
      if (gateway === v.address)
        issues.push({
          path: gatewayPath,
          message: `${showValue(v.address)} is also the VM's gateway${v.gateway === undefined ? " (by default the .1 of its /24)" : ""}; give the VM another address, or set vms.${name}.gateway`,
        });
      else if (!cidrsOverlap(`${v.address}/${v.prefixLength}`, `${gateway}/32`))
        issues.push({
          path: gatewayPath,
          message: `gateway ${showValue(gateway)} is outside the VM's network ${v.address}/${v.prefixLength}; set vms.${name}.gateway or prefixLength`,
        });
    } else if (v.gateway !== undefined)
      issues.push({
        path: `${where}.gateway`,
        message: "is set, but address is not: a gateway needs a static address",
      });
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
        message: `${showValue(ref)} is not a ${what} of this spec (known: ${showNames(known, [])})`,
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
  const allowed = () => showNames(hostNames, []);
  const unknown = (where: string, ref: string, what = "host or VM") =>
    issues.push({ path: where, message: `${showValue(ref)} is not a ${what} of this spec (known: ${allowed()})` });

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
        message: `${showValue(h.address)} is also the address of ${showValue(other)}`,
      });
    } else byAddress.set(key, h.name);
  }

  for (const h of Object.values(spec.hosts)) {
    if (h.kind !== "machine" || h.jump === undefined) continue;
    const where = `hosts.${h.name}.jump`;
    if (!known(h.jump)) unknown(where, h.jump);
    else if (h.jump === h.name) issues.push({ path: where, message: `${showValue(h.jump)} is the host itself` });
    else if (spec.hosts[h.jump].jump !== undefined)
      issues.push({
        path: where,
        message: `${showValue(h.jump)} is itself reached through a jump host; only one hop is supported (as in pulumi-command)`,
      });
  }

  for (const [name, v] of Object.entries(raw.vms)) {
    const where = `vms.${name}.hypervisor`;
    const hv = spec.hosts[v.hypervisor];
    if (hv === undefined) unknown(where, v.hypervisor, "host");
    else if (hv.kind !== "machine" || hv.hypervisor === undefined)
      issues.push({
        path: where,
        message: `${showValue(v.hypervisor)} is not a hypervisor; add \`hypervisor: { kind: incus }\` to hosts.${v.hypervisor}`,
      });
    else if (hv.jump !== undefined)
      issues.push({
        path: where,
        message: `${showValue(v.hypervisor)} is reached through a jump host; a VM's hypervisor must be reachable directly`,
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
        message: `${showValue(node)} is already a node of cluster ${showValue(prev)}`,
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
          message: `${showValue(cidrs[i].cidr)} overlaps ${cidrs[j].where} (${cidrs[j].cidr}); pod and service ranges must not overlap within or between clusters`,
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

  // Karmada's and vAccel's rules live beside the code that depends on them (components/karmada/validate.ts,
  // components/vaccel/validate.ts); their issues are reported here, with every other one.
  issues.push(...karmadaSpecIssues(spec), ...vaccelSpecIssues(spec));
}
