import { z } from "zod";
import {
  DEFAULT_BUDGET_SECONDS,
  DEFAULT_FAIL_P99_MS,
  DEFAULT_FIO_SIZE_MIB,
  DEFAULT_WARN_P99_MS,
  MIN_FIO_SIZE_MIB,
} from "../disk/thresholds";
import {
  CLUSTER_READY_TIMEOUT_S,
  KARMADA_READY_TIMEOUT_S,
  RELEASE_GONE_WAIT_S,
  TOKEN_TIMEOUT_S,
} from "../karmada/timeouts";
import { PIPELINE_READY_TIMEOUT_S } from "../vaccel/timeouts";

/** The k3s release the original testbed ran (mlsysops-framework orchestrators/k3s-install.yml). */
export const DEFAULT_K3S_VERSION = "v1.31.6+k3s1";
/** The upstream installer script; point it at a mirror (or file://) for air-gapped sites. */
export const DEFAULT_K3S_INSTALL_URL = "https://get.k3s.io";
/** The Karmada Helm chart version the original testbed installed (karmada-install.yml, --version=1.13.0). */
export const DEFAULT_KARMADA_CHART_VERSION = "1.13.0";
/** NodePort the original testbed patched onto karmada-apiserver (5443 -> 32644). */
export const DEFAULT_KARMADA_API_NODEPORT = 32644;
/**
 * Where the Karmada chart's internal etcd keeps its data, so the disk gate measures that path: chart 1.13.0,
 * templates/etcd.yaml, storageType hostPath (the default) -> /var/lib/<namespace>/karmada-etcd.
 */
export const DEFAULT_KARMADA_ETCD_PATH = "/var/lib/karmada-system/karmada-etcd";
/** The Karmada chart repository the original testbed used. */
export const DEFAULT_KARMADA_CHART_REPO = "https://raw.githubusercontent.com/karmada-io/karmada/master/charts";
/** k3s' default data dir; embedded etcd writes under <dataDir>/server/db. */
export const DEFAULT_K3S_DATA_DIR = "/var/lib/rancher/k3s";
/** Ubuntu 22.04, the OS the original playbooks were tested on (docs/testbed.md). */
export const DEFAULT_VM_IMAGE = "images:ubuntu/22.04/cloud";
/** The VM size the original launch.py used (limits.cpu=4, limits.memory=6GiB). */
export const DEFAULT_VM_CPUS = 4;
export const DEFAULT_VM_MEMORY = "6GiB";
/** Enough for k3s, Karmada's images and etcd with room to spare. */
export const DEFAULT_VM_DISK = "40GiB";
/** The vAccel RPC port of the yolo-torch demo (VACCEL_RPC_ADDRESS=tcp://<jetson>:8192). */
export const DEFAULT_VACCEL_PORT = 8192;
/**
 * The vAccel pipeline's images have no default: no published image is known. The names the spec used to default to
 * (harbor.nbfc.io/nubificus/vaccel-rpc-agent, .../yolo-vaccel, both :latest) appear in no Nubificus source, manifest
 * or document found; their Kubernetes example publishes only harbor.nbfc.io/nubificus/vaccel-torch-bert-example-agent
 * with the tag x86_64 (vaccel-docs, "deploying vAccel applications using Kubernetes"), an amd64 BERT agent where the
 * GPU node is an arm64 Jetson; nubificus/yolo-torch ships a Dockerfile and no image; the CI of nubificus/vaccel and
 * of nubificus/vaccel-rust (which builds vaccel-rpc-agent) uploads binaries and packages to S3 (verify-build.yml),
 * not images. So the operator names the images they built or mirrored, pinned (README.md, "Settings").
 */
const requiredImage = (what: string) =>
  z.string({
    error: (issue) =>
      issue.input === undefined
        ? `is required: ${what}, pinned by a version tag or a sha256 digest; no published image is known ` +
          `(README.md, "Settings")`
        : undefined,
  });

const name = z.string().regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, {
  message: "must be a DNS label: lower-case letters, digits and '-', at most 63 characters",
});
const hostname = z
  .string()
  .regex(
    /^(?![0-9.]+$)(?=.{1,253}$)([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/,
  );
const address = z.union([z.ipv4(), hostname], { message: "is not an IPv4 address or a host name" });
const port = z.number().int().min(1).max(65535);
/**
 * Sizes as Incus reads them (lxc/incus shared/units/units.go, ParseByteSizeString: the number goes through
 * strconv.ParseInt, the suffix must be one of its table, and the product must fit in an int64). Zero is refused
 * too: a VM with no memory or no disk cannot start.
 */
const SIZE_UNITS: Record<string, bigint> = {
  kB: 1000n,
  MB: 1000n ** 2n,
  GB: 1000n ** 3n,
  TB: 1000n ** 4n,
  KiB: 1024n,
  MiB: 1024n ** 2n,
  GiB: 1024n ** 3n,
  TiB: 1024n ** 4n,
};
export function sizeBytes(text: string): bigint | undefined {
  const m = /^([0-9]{1,19})(kB|MB|GB|TB|KiB|MiB|GiB|TiB)$/.exec(text);
  if (m === null) return undefined;
  const bytes = BigInt(m[1]) * SIZE_UNITS[m[2]];
  return bytes > 0n && bytes < 2n ** 63n ? bytes : undefined;
}
const size = z.string().refine((v) => sizeBytes(v) !== undefined, {
  message: "must be a whole number above 0 and a unit Incus reads (kB, MB, GB, TB, KiB, MiB, GiB, TiB), like 6GiB",
});
/**
 * A login user: the characters Debian's useradd accepts by default (NAME_REGEX), so no shell metacharacter ever
 * reaches a script or a sudo rule.
 */
const userName = z.string().regex(/^[a-z_][a-z0-9_.-]{0,31}$/, {
  message:
    "must be a Linux user name: lower-case letters, digits, '_', '-' or '.', starting with a letter or '_', at most 32 characters",
});
/**
 * The longest wait a setting may ask for: an hour. Each wait is for one thing (a Release's resources, a token, a
 * Cluster's Ready condition, a Deployment's pods, a terminating pod), so a bound beyond that would let a stuck
 * `pulumi up` or `pulumi destroy` hang an afternoon instead of saying what it waited for (CONTRIBUTING.md, "Numbers").
 */
export const MAX_WAIT_SECONDS = 3600;
/**
 * A wait's bound in whole seconds, 1 to MAX_WAIT_SECONDS. Whole, because every reader takes an integer:
 * pulumi-kubernetes reads `pulumi.com/timeoutSeconds` with strconv.Atoi and ignores what does not parse, falling back
 * to its own default (provider/pkg/metadata/overrides.go, TimeoutDuration); a Release's `timeout` is a Go int
 * (provider/pkg/provider/helm_release.go); and etcd-data.sh counts it down in bash arithmetic.
 */
const waitSeconds = (defaultSeconds: number) =>
  z
    .number()
    .refine((v) => Number.isInteger(v) && v >= 1 && v <= MAX_WAIT_SECONDS, {
      message: `must be a whole number of seconds from 1 to ${MAX_WAIT_SECONDS}`,
    })
    .default(defaultSeconds);
const labels = z.record(z.string(), z.string()).default({});
const cidr = z.cidrv4({ message: "is not an IPv4 CIDR like 10.12.0.0/16" });

/** A secret given inline (Pulumi secret config) or as a file path read at run time. */
const secretFields = {
  privateKey: z.string().min(1).optional(),
  privateKeyFile: z.string().min(1).optional(),
  sudoPassword: z
    .string()
    .min(1)
    .regex(/^[^\r\n\0]*$/, { message: "must be one line: sudo reads the password up to the first newline" })
    .optional(),
  sudoPasswordFile: z.string().min(1).optional(),
};

export const hypervisorSchema = z
  .object({
    /** The Incus CLI; LXD's `lxc` takes the same arguments. Defaults to incus. */
    kind: z.enum(["incus", "lxd"]).default("incus"),
    /** Storage pool the VMs' disks live on (a ZFS pool, as on the NUC). Defaults to default. */
    storagePool: name.default("default"),
  })
  .strict();

export const hostSchema = z
  .object({
    address,
    port: port.default(22),
    user: userName.default("root"),
    ...secretFields,
    /** Pinned host key, authorized_keys format ("ssh-ed25519 AAAA..."), e.g. from `ssh-keyscan -t ed25519`. */
    hostKey: z.string().min(1).optional(),
    hostKeyFile: z.string().min(1).optional(),
    /** Name of another host to reach this one through (SSH jump host). */
    jump: z.string().optional(),
    arch: z.enum(["amd64", "arm64"]).default("amd64"),
    board: z.enum(["generic", "raspberry-pi", "jetson"]).default("generic"),
    labels,
    hypervisor: hypervisorSchema.optional(),
  })
  .strict();

export const vmSchema = z
  .object({
    hypervisor: z.string(),
    cpus: z.number().int().min(1).default(DEFAULT_VM_CPUS),
    memory: size.default(DEFAULT_VM_MEMORY),
    disk: size.default(DEFAULT_VM_DISK),
    image: z.string().min(1).default(DEFAULT_VM_IMAGE),
    /** Defaults to the hypervisor's storage pool. */
    storagePool: name.optional(),
    /** Static address set through cloud-init; without it the address Incus reports is used. */
    address: z.ipv4({ message: "is not an IPv4 address" }).optional(),
    /** Gateway and prefix for a static address. Defaults to the .1 of the address's /24. */
    gateway: z.ipv4().optional(),
    prefixLength: z.number().int().min(8).max(30).default(24),
    user: userName.default("ubuntu"),
    /** Defaults to the hypervisor's key; its public half is injected with cloud-init. */
    privateKeyFile: z.string().min(1).optional(),
    privateKey: z.string().min(1).optional(),
    arch: z.enum(["amd64", "arm64"]).default("amd64"),
    labels,
  })
  .strict();

export const clusterSchema = z
  .object({
    server: z.string(),
    agents: z.array(z.string()).default([]),
    podCidr: cidr,
    serviceCidr: cidr,
    k3sVersion: z
      .string()
      .regex(/^v[0-9]+\.[0-9]+\.[0-9]+\+k3s[0-9]+$/, { message: "must be a k3s release like v1.31.6+k3s1" })
      .default(DEFAULT_K3S_VERSION),
    installScriptUrl: z.string().min(1).default(DEFAULT_K3S_INSTALL_URL),
    dataDir: z.string().startsWith("/").default(DEFAULT_K3S_DATA_DIR),
    extraArgs: z.array(z.string()).default([]),
  })
  .strict();

export const zfsSchema = z
  .object({
    dataset: z.string().min(1).default("default"),
    /** demo = the incident's four properties; durable = the same without sync=disabled; none = leave ZFS alone. */
    profile: z.enum(["demo", "durable", "none"]).default("durable"),
    /** An explicit property map; replaces the profile's. */
    properties: z.record(z.string().regex(/^[a-z][a-z0-9_:.]*$/), z.string()).optional(),
    /** sync=disabled loses the last seconds of writes on power loss; it must be accepted in writing. */
    acknowledgeSyncDisabled: z.boolean().default(false),
  })
  .strict();

export const diskGateSchema = z
  .object({
    warnMs: z.number().positive().default(DEFAULT_WARN_P99_MS),
    failMs: z.number().positive().default(DEFAULT_FAIL_P99_MS),
    /** MiB written by each measurement (fractions allowed, down to the floor disk-check keeps too). */
    sizeMiB: z
      .number()
      .min(
        MIN_FIO_SIZE_MIB,
        `must be at least ${MIN_FIO_SIZE_MIB} MiB: below ~100 syncs a p99 is only the slowest write`,
      )
      .default(DEFAULT_FIO_SIZE_MIB),
    /** Wall-clock limit of each measurement, in seconds; a run it stops is judged on the syncs it made. */
    budgetSeconds: z.number().positive().default(DEFAULT_BUDGET_SECONDS),
    /** Hosts whose failing disk is accepted anyway (the install goes on with a warning). */
    accept: z.array(z.string()).default([]),
  })
  .strict();

/** Bounds of Karmada's waits, in seconds (the defaults' sources: components/karmada/timeouts.ts). */
export const karmadaTimeoutsSchema = z
  .object({
    /** The chart's Release: every chart resource Ready. Defaults to KARMADA_READY_TIMEOUT_S (600). */
    releaseSeconds: waitSeconds(KARMADA_READY_TIMEOUT_S),
    /**
     * Each member's service account token Secrets filled in by its token controller (the setting is not named after
     * the token: a value under a token-named field is masked in every message). Defaults to TOKEN_TIMEOUT_S (60).
     */
    memberServiceAccountSeconds: waitSeconds(TOKEN_TIMEOUT_S),
    /** Each member's Cluster object turning Ready. Defaults to CLUSTER_READY_TIMEOUT_S (300). */
    memberReadySeconds: waitSeconds(CLUSTER_READY_TIMEOUT_S),
    /** On destroy, the chart's etcd letting go of its hostPath data. Defaults to RELEASE_GONE_WAIT_S (60). */
    etcdReleaseSeconds: waitSeconds(RELEASE_GONE_WAIT_S),
  })
  .strict();

export const karmadaSchema = z
  .object({
    /** The cluster whose (single) server hosts Karmada; it is not a member. */
    cluster: z.string(),
    members: z.array(z.string()).default([]),
    chartVersion: z.string().min(1).default(DEFAULT_KARMADA_CHART_VERSION),
    chartRepo: z.string().min(1).default(DEFAULT_KARMADA_CHART_REPO),
    apiNodePort: z.number().int().min(30000).max(32767).default(DEFAULT_KARMADA_API_NODEPORT),
    etcdPath: z.string().startsWith("/").default(DEFAULT_KARMADA_ETCD_PATH),
    timeouts: karmadaTimeoutsSchema.default(karmadaTimeoutsSchema.parse({})),
  })
  .strict();

export const vaccelSchema = z
  .object({
    clientNode: z.string(),
    gpuNode: z.string(),
    /** The vaccel-rpc-agent image for the GPU node (its architecture, with the torch plugin). Required. */
    agentImage: requiredImage(
      "the image of vaccel-rpc-agent with the torch plugin, built or mirrored by you for the GPU node",
    ),
    /** The object-detection app's image for the client node's architecture. Required. */
    appImage: requiredImage("the image of the object-detection app, built or mirrored by you for the client node"),
    port: port.default(DEFAULT_VACCEL_PORT),
    backend: z.enum(["local", "remote"]).default("local"),
    /**
     * Bound on each of the pipeline's Deployments having all its replicas available on the member, in seconds.
     * Defaults to PIPELINE_READY_TIMEOUT_S (600; its source in components/vaccel/timeouts.ts).
     */
    readySeconds: waitSeconds(PIPELINE_READY_TIMEOUT_S),
  })
  .strict();

export const rawSpecSchema = z
  .object({
    hosts: z.record(name, hostSchema),
    vms: z.record(name, vmSchema).default({}),
    clusters: z.record(name, clusterSchema).default({}),
    zfs: zfsSchema.default(zfsSchema.parse({})),
    diskGate: diskGateSchema.default(diskGateSchema.parse({})),
    karmada: karmadaSchema.optional(),
    vaccel: vaccelSchema.optional(),
  })
  .strict();

export type RawSpec = z.infer<typeof rawSpecSchema>;
export type HostInput = z.infer<typeof hostSchema>;
export type VmInput = z.infer<typeof vmSchema>;
export type ClusterSpec = z.infer<typeof clusterSchema> & { name: string };
export type ZfsSpec = z.infer<typeof zfsSchema>;
export type DiskGateSpec = z.infer<typeof diskGateSchema>;
export type KarmadaSpec = z.infer<typeof karmadaSchema>;
export type KarmadaTimeouts = z.infer<typeof karmadaTimeoutsSchema>;
export type VaccelSpec = z.infer<typeof vaccelSchema>;
export type HypervisorSpec = z.infer<typeof hypervisorSchema>;

/** Config keys (namespace `testbed:`) the spec is read from, in the order they are validated. */
export const SPEC_KEYS = ["hosts", "vms", "clusters", "zfs", "diskGate", "karmada", "vaccel"] as const;
