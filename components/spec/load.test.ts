import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { SpecError, formatIssue, loadSpec, validateSpec } from "./load";
import { readStackConfig } from "./stackFile";
import { cidrsOverlap } from "./net";
import {
  CLUSTER_READY_TIMEOUT_S,
  KARMADA_READY_TIMEOUT_S,
  RELEASE_GONE_WAIT_S,
  TOKEN_TIMEOUT_S,
} from "../karmada/timeouts";
import { PIPELINE_READY_TIMEOUT_S } from "../vaccel/timeouts";
import { EXAMPLE_IMAGES } from "../../test/harness/demoStack";

const KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nkey\n-----END OPENSSH PRIVATE KEY-----";
const HK = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOqlqm4Je6lr3zF0YNA4KdlFhrcK/y7VBF873abPbSQs";
const files: Record<string, string> = { "/keys/id": KEY, "/keys/nuc.pub": `${HK} root@nuc\n` };
const readFile = (f: string) => {
  if (files[f] === undefined)
    throw Object.assign(new Error(`ENOENT: no such file or directory, open '${f}'`), { code: "ENOENT" });
  return files[f];
};

/** A valid demo-shaped spec; each case below breaks one thing. */
function demo(): Record<string, any> {
  return {
    hosts: {
      nuc: {
        address: "198.18.0.10",
        user: "t",
        privateKeyFile: "/keys/id",
        hostKeyFile: "/keys/nuc.pub",
        hypervisor: {},
      },
      pi: {
        address: "198.18.0.11",
        user: "t",
        privateKey: KEY,
        hostKey: HK,
        arch: "arm64",
        board: "raspberry-pi",
        sudoPassword: "pw",
      },
      jetson: { address: "198.18.0.12", user: "t", privateKey: KEY, hostKey: HK, arch: "arm64", board: "jetson" },
    },
    vms: { "karmada-host": { hypervisor: "nuc" }, "k3s-cp": { hypervisor: "nuc", address: "198.19.0.21" } },
    clusters: {
      mgmt: { server: "karmada-host", podCidr: "10.10.0.0/16", serviceCidr: "10.11.0.0/16" },
      edge: { server: "k3s-cp", agents: ["pi", "jetson"], podCidr: "10.12.0.0/16", serviceCidr: "10.13.0.0/16" },
    },
    zfs: { profile: "demo", acknowledgeSyncDisabled: true },
    karmada: { cluster: "mgmt", members: ["edge"] },
    vaccel: { clientNode: "pi", gpuNode: "jetson", ...EXAMPLE_IMAGES },
  };
}

function issues(mutate: (s: Record<string, any>) => void): string[] {
  const raw = demo();
  mutate(raw);
  return validateSpec(raw, { readFile }).issues.map(formatIssue);
}

describe("loadSpec on a valid spec", () => {
  const spec = loadSpec(demo(), { readFile });

  it("fills the documented defaults", () => {
    expect(spec.clusters.edge).toMatchObject({
      k3sVersion: "v1.31.6+k3s1",
      dataDir: "/var/lib/rancher/k3s",
      extraArgs: [],
    });
    expect(spec.diskGate).toEqual({ warnMs: 10, failMs: 100, sizeMiB: 22, budgetSeconds: 60, accept: [] });
    expect(spec.karmada).toMatchObject({
      chartVersion: "1.13.0",
      apiNodePort: 32644,
      etcdPath: "/var/lib/karmada-system/karmada-etcd",
    });
    expect(spec.vaccel).toMatchObject({ port: 8192, backend: "local", readySeconds: 600 });
    // The components' own constants, so a default changed in one place changes both.
    expect(spec.karmada?.timeouts).toEqual({
      releaseSeconds: KARMADA_READY_TIMEOUT_S,
      memberServiceAccountSeconds: TOKEN_TIMEOUT_S,
      memberReadySeconds: CLUSTER_READY_TIMEOUT_S,
      etcdReleaseSeconds: RELEASE_GONE_WAIT_S,
    });
    expect(spec.karmada?.timeouts).toEqual({
      releaseSeconds: 600,
      memberServiceAccountSeconds: 60,
      memberReadySeconds: 300,
      etcdReleaseSeconds: 60,
    });
    expect(spec.vaccel?.readySeconds).toBe(PIPELINE_READY_TIMEOUT_S);
    expect(spec.zfs.resolvedProperties).toEqual({
      sync: "disabled",
      compression: "lz4",
      atime: "off",
      recordsize: "8k",
    });
  });

  it("reads key files, pins the host key without its comment, and makes VMs reachable through their hypervisor", () => {
    expect(spec.hosts.nuc).toMatchObject({
      privateKey: `${KEY}\n`,
      hostKey: HK,
      port: 22,
      hypervisor: { kind: "incus", storagePool: "default" },
    });
    expect(spec.hosts["k3s-cp"]).toMatchObject({
      kind: "vm",
      jump: "nuc",
      user: "ubuntu",
      address: "198.19.0.21",
      privateKey: `${KEY}\n`,
      vm: { cpus: 4, memory: "6GiB", disk: "40GiB", storagePool: "default", image: "images:ubuntu/22.04/cloud" },
    });
    expect(spec.hosts["karmada-host"].address).toBeUndefined();
  });

  it("takes the waits' bounds from the spec, each alone, the others keeping their defaults", () => {
    const raw = demo();
    raw.karmada.timeouts = { releaseSeconds: 1200, memberReadySeconds: 3600 };
    raw.vaccel.readySeconds = 1;
    const over = loadSpec(raw, { readFile });
    expect(over.karmada?.timeouts).toEqual({
      releaseSeconds: 1200,
      memberServiceAccountSeconds: 60,
      memberReadySeconds: 3600,
      etcdReleaseSeconds: 60,
    });
    expect(over.vaccel?.readySeconds).toBe(1);
    raw.karmada.timeouts = { memberServiceAccountSeconds: 90, etcdReleaseSeconds: 120 };
    expect(loadSpec(raw, { readFile }).karmada?.timeouts).toEqual({
      releaseSeconds: 600,
      memberServiceAccountSeconds: 90,
      memberReadySeconds: 300,
      etcdReleaseSeconds: 120,
    });
  });

  it("accepts agents in Karmada's cluster: its etcd is pinned to the server (karmada/validate.ts)", () => {
    const raw = demo();
    raw.clusters.mgmt.agents = ["nuc"];
    expect(validateSpec(raw, { readFile }).issues).toEqual([]);
  });

  it("serves larger shapes without code changes", () => {
    const raw = demo();
    for (let i = 0; i < 20; i++)
      raw.hosts[`agent${i}`] = { address: `198.18.1.${i + 1}`, privateKey: KEY, hostKey: HK };
    raw.hosts.nuc2 = { address: "198.18.0.20", privateKey: KEY, hostKey: HK, hypervisor: { kind: "lxd" } };
    raw.vms.cp2 = { hypervisor: "nuc2" };
    raw.clusters.far = {
      server: "cp2",
      agents: Object.keys(raw.hosts).filter((h) => h.startsWith("agent")),
      podCidr: "10.20.0.0/16",
      serviceCidr: "10.21.0.0/16",
    };
    raw.karmada.members.push("far");
    const big = loadSpec(raw, { readFile });
    expect(Object.keys(big.hosts)).toHaveLength(27);
    expect(big.clusters.far.agents).toHaveLength(20);
  });
});

describe("loadSpec on bad input: every error, each naming its field, the value and the rule", () => {
  it.each<[string, (s: Record<string, any>) => void, string[]]>([
    [
      "a bad address",
      (s) => (s.hosts.pi.address = "300.1.1.1"),
      ['hosts.pi.address: "300.1.1.1" is not an IPv4 address or a host name'],
    ],
    ["a bad port", (s) => (s.hosts.pi.port = 70000), ["hosts.pi.port: 70000 Too big: expected number to be <=65535"]],
    [
      "an unknown board",
      (s) => (s.hosts.pi.board = "rpi"),
      ['hosts.pi.board: "rpi" must be one of "generic", "raspberry-pi", "jetson"'],
    ],
    [
      "an unknown setting",
      (s) => (s.hosts.pi.adress = "x"),
      ['hosts.pi.adress: unknown setting "adress"; did you mean "address"?'],
    ],
    [
      "a bad host name",
      (s) => (s.hosts.Pi_1 = s.hosts.pi),
      [
        "hosts.Pi_1: has an invalid name: must be a DNS label: lower-case letters, digits and '-', at most 63 characters",
      ],
    ],
    ["a missing address", (s) => delete s.hosts.pi.address, ["hosts.pi.address: is required"]],
    [
      "a missing key",
      (s) => delete s.hosts.pi.privateKey,
      [
        "hosts.pi.privateKey: is required: set privateKeyFile to the SSH private key's path, or `pulumi config set --secret --path testbed:hosts.pi.privateKey < key`",
      ],
    ],
    [
      "an unreadable key file",
      (s) => (s.hosts.nuc.privateKeyFile = "/keys/nope"),
      ['hosts.nuc.privateKeyFile: "/keys/nope" cannot be read (no such file)'],
    ],
    [
      "a key given twice",
      (s) => (s.hosts.pi.privateKeyFile = "/keys/id"),
      ["hosts.pi.privateKey: set either privateKey or privateKeyFile, not both"],
    ],
    [
      "a missing host key",
      (s) => delete s.hosts.pi.hostKey,
      ["hosts.pi.hostKey: is required: pin the host's key, e.g. the output of `ssh-keyscan -t ed25519 198.18.0.11`"],
    ],
    [
      "a malformed host key",
      (s) => (s.hosts.pi.hostKey = "AAAA"),
      [
        'hosts.pi.hostKey: "AAAA" is not a key type this provisioner pins (ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256, ecdsa-sha2-nistp384, ecdsa-sha2-nistp521); expected an SSH public key in authorized_keys format ("ssh-ed25519 AAAA...", as ssh-keyscan prints it)',
      ],
    ],
    [
      "a duplicate address",
      (s) => (s.hosts.jetson.address = "198.18.0.11"),
      ['hosts.jetson.address: "198.18.0.11" is also the address of "pi"'],
    ],
    [
      "an unknown jump host",
      (s) => (s.hosts.pi.jump = "bastion"),
      [
        'hosts.pi.jump: "bastion" is not a host or VM of this spec (known: "nuc", "pi", "jetson", "karmada-host", "k3s-cp")',
      ],
    ],
    [
      "a VM on a host that is not a hypervisor",
      (s) => (s.vms["k3s-cp"].hypervisor = "pi"),
      ['vms.k3s-cp.hypervisor: "pi" is not a hypervisor; add `hypervisor: { kind: incus }` to hosts.pi'],
    ],
    [
      "a VM on an unknown host",
      (s) => (s.vms["k3s-cp"].hypervisor = "nuc9"),
      [
        'vms.k3s-cp.hypervisor: "nuc9" is not a host of this spec (known: "nuc", "pi", "jetson", "karmada-host", "k3s-cp")',
      ],
    ],
    [
      "a VM named like a host",
      (s) => (s.vms.pi = { hypervisor: "nuc" }),
      ['vms.pi: "pi" is already a host name; VM and host names share one namespace'],
    ],
    [
      "a bad VM size",
      (s) => (s.vms["k3s-cp"].memory = "6G"),
      [
        'vms.k3s-cp.memory: "6G" must be a whole number above 0 and a unit Incus reads (kB, MB, GB, TB, KiB, MiB, GiB, TiB), like 6GiB',
      ],
    ],
    [
      "an unknown agent",
      (s) => s.clusters.edge.agents.push("orin"),
      [
        'clusters.edge.agents.2: "orin" is not a host or VM of this spec (known: "nuc", "pi", "jetson", "karmada-host", "k3s-cp")',
      ],
    ],
    [
      "a node in two clusters",
      (s) => (s.clusters.mgmt.agents = ["pi"]),
      ['clusters.edge.agents.0: "pi" is already a node of cluster "mgmt"'],
    ],
    [
      "overlapping CIDRs",
      (s) => (s.clusters.edge.podCidr = "10.10.128.0/17"),
      [
        'clusters.edge.podCidr: "10.10.128.0/17" overlaps clusters.mgmt.podCidr (10.10.0.0/16); pod and service ranges must not overlap within or between clusters',
      ],
    ],
    [
      "a bad CIDR",
      (s) => (s.clusters.edge.podCidr = "10.12.0.0/33"),
      ['clusters.edge.podCidr: "10.12.0.0/33" is not an IPv4 CIDR like 10.12.0.0/16'],
    ],
    [
      "a bad k3s version",
      (s) => (s.clusters.edge.k3sVersion = "1.31"),
      ['clusters.edge.k3sVersion: "1.31" must be a k3s release like v1.31.6+k3s1'],
    ],
    [
      "sync=disabled without the acknowledgement",
      (s) => delete s.zfs.acknowledgeSyncDisabled,
      [
        'zfs.acknowledgeSyncDisabled: must be true to apply sync=disabled (profile "demo"): ZFS then acknowledges writes before they reach the disk, and a power loss can lose the last seconds of etcd\'s data. Use profile "durable" to keep sync on.',
      ],
    ],
    [
      "an unknown ZFS profile",
      (s) => (s.zfs.profile = "fast"),
      ['zfs.profile: "fast" must be one of "demo", "durable", "none"'],
    ],
    [
      "thresholds the wrong way round",
      (s) => (s.diskGate = { warnMs: 200 }),
      ["diskGate.warnMs: 200 must be below diskGate.failMs (100)"],
    ],
    [
      "a measurement too small to have a p99 (the floor disk-check keeps too)",
      (s) => (s.diskGate = { sizeMiB: 0.0625 }),
      ["diskGate.sizeMiB: 0.0625 must be at least 0.25 MiB: below ~100 syncs a p99 is only the slowest write"],
    ],
    [
      "a Karmada member that does not exist",
      (s) => s.karmada.members.push("cloud"),
      ['karmada.members.1: "cloud" is not a cluster of this spec (known: "mgmt", "edge")'],
    ],
    [
      "Karmada's own cluster as a member",
      (s) => s.karmada.members.push("mgmt"),
      ['karmada.members.1: "mgmt" hosts Karmada (karmada.cluster); the management cluster is never a member'],
    ],
    ["a member listed twice", (s) => s.karmada.members.push("edge"), ['karmada.members.1: "edge" is listed twice']],
    [
      "a Karmada cluster that does not exist",
      (s) => (s.karmada.cluster = "mgnt"),
      ['karmada.cluster: "mgnt" is not a cluster of this spec (known: "mgmt", "edge")'],
    ],
    [
      "an etcd path the chart does not use, so the disk gate would measure another disk",
      (s) => (s.karmada.etcdPath = "/data/karmada-etcd"),
      [
        'karmada.etcdPath: "/data/karmada-etcd" is not where the Karmada chart keeps etcd: chart 1.13.0 puts it at ' +
          '/var/lib/<namespace>/karmada-etcd, here "/var/lib/karmada-system/karmada-etcd"; set etcdPath to ' +
          '"/var/lib/karmada-system/karmada-etcd" so the disk gate measures it',
      ],
    ],
    [
      "a chart version whose values were never checked",
      (s) => (s.karmada.chartVersion = "1.14.0"),
      [
        'karmada.chartVersion: "1.14.0" is not a chart version this program\'s values were checked against (1.13.0); ' +
          "Helm would drop any value the chart renamed without a word",
      ],
    ],
    [
      "a vAccel node outside the members",
      (s) => (s.vaccel.gpuNode = "karmada-host"),
      [
        'vaccel.gpuNode: "karmada-host" is in cluster "mgmt", which is not a Karmada member (karmada.members: "edge")',
        'vaccel.gpuNode: "karmada-host" has board "generic", which has no GPU for the RPC agent (GPU boards: jetson)',
      ],
    ],
    [
      "a gpuNode without a GPU board",
      (s) => ([s.vaccel.gpuNode, s.vaccel.clientNode] = ["pi", "jetson"]),
      ['vaccel.gpuNode: "pi" has board "raspberry-pi", which has no GPU for the RPC agent (GPU boards: jetson)'],
    ],
    [
      "vAccel nodes that are not hosts",
      (s) => ([s.vaccel.clientNode, s.vaccel.gpuNode] = ["rpi", "orin"]),
      [
        'vaccel.clientNode: "rpi" is not a host or VM of this spec (known: "nuc", "pi", "jetson", "karmada-host", "k3s-cp")',
        'vaccel.gpuNode: "orin" is not a host or VM of this spec (known: "nuc", "pi", "jetson", "karmada-host", "k3s-cp")',
      ],
    ],
    [
      "a vAccel node in no cluster",
      (s) => (s.vaccel.clientNode = "nuc"),
      ['vaccel.clientNode: "nuc" is a node of no cluster: it must run k3s in a Karmada member cluster'],
    ],
    [
      "vAccel nodes in two member clusters",
      (s) => {
        s.hosts.pi2 = { ...s.hosts.pi, address: "198.18.0.13" };
        s.clusters.far = { server: "pi2", podCidr: "10.20.0.0/16", serviceCidr: "10.21.0.0/16" };
        s.karmada.members.push("far");
        s.vaccel.clientNode = "pi2";
      },
      [
        'vaccel.clientNode: "pi2" is in cluster "far", vaccel.gpuNode "jetson" in "edge": both must be in one ' +
          "member cluster, as the app reaches the agent through a Service of its cluster",
      ],
    ],
    [
      "one node for both vAccel roles",
      (s) => (s.vaccel.clientNode = "jetson"),
      [
        'vaccel.clientNode: "jetson" is also vaccel.gpuNode: the app must run on another node than the GPU agent it offloads to',
      ],
    ],
    [
      "a wait of 0 s, negative or fractional, or given as a string",
      (s) => {
        s.karmada.timeouts = { releaseSeconds: 0, memberServiceAccountSeconds: -30, memberReadySeconds: 90.5 };
        s.karmada.timeouts.etcdReleaseSeconds = "60";
        s.vaccel.readySeconds = "600";
      },
      [
        "karmada.timeouts.releaseSeconds: 0 must be a whole number of seconds from 1 to 3600",
        "karmada.timeouts.memberServiceAccountSeconds: -30 must be a whole number of seconds from 1 to 3600",
        "karmada.timeouts.memberReadySeconds: 90.5 must be a whole number of seconds from 1 to 3600",
        'karmada.timeouts.etcdReleaseSeconds: "60" expected a number',
        'vaccel.readySeconds: "600" expected a number',
      ],
    ],
    [
      "a wait beyond an hour",
      (s) => (s.vaccel.readySeconds = 3601),
      ["vaccel.readySeconds: 3601 must be a whole number of seconds from 1 to 3600"],
    ],
    [
      "a misspelt wait, read under the name it most likely means",
      (s) => (s.karmada.timeouts = { releaseSecond: 0 }),
      [
        'karmada.timeouts.releaseSecond: unknown setting "releaseSecond"; did you mean "releaseSeconds"?',
        "karmada.timeouts.releaseSeconds: 0 must be a whole number of seconds from 1 to 3600",
      ],
    ],
    [
      "an unknown wait, listing the known ones",
      (s) => (s.karmada.timeouts = { joinSeconds: 60 }),
      [
        'karmada.timeouts: unknown setting(s) "joinSeconds"; known here: releaseSeconds, memberServiceAccountSeconds, ' +
          'memberReadySeconds, etcdReleaseSeconds (README.md, "Settings")',
      ],
    ],
    [
      "vAccel without Karmada",
      (s) => delete s.karmada,
      ["vaccel: needs testbed:karmada: the pipeline is created through the Karmada API and propagated to a member"],
    ],
    [
      "images on :latest or without a tag, as the spec's defaults used to be",
      (s) => {
        s.vaccel.agentImage = "harbor.nbfc.io/nubificus/vaccel-rpc-agent:latest";
        s.vaccel.appImage = "harbor.nbfc.io/nubificus/yolo-vaccel";
      },
      [
        'vaccel.agentImage: "harbor.nbfc.io/nubificus/vaccel-rpc-agent:latest" uses the moving tag latest: pin a version tag or a sha256 digest',
        'vaccel.appImage: "harbor.nbfc.io/nubificus/yolo-vaccel" has no tag or digest: pin it by a version tag (name:<version>) or a digest (name@sha256:<digest>)',
      ],
    ],
    [
      "images left out: no default, as no published image is known",
      (s) => {
        delete s.vaccel.agentImage;
        delete s.vaccel.appImage;
      },
      [
        'vaccel.agentImage: is required: the image of vaccel-rpc-agent with the torch plugin, built or mirrored by you for the GPU node, pinned by a version tag or a sha256 digest; no published image is known (README.md, "Settings")',
        'vaccel.appImage: is required: the image of the object-detection app, built or mirrored by you for the client node, pinned by a version tag or a sha256 digest; no published image is known (README.md, "Settings")',
      ],
    ],
  ])("%s", (_what, mutate, expected) => {
    expect(issues(mutate)).toEqual(expected);
  });

  it("reports every error at once", () => {
    const found = issues((s) => {
      s.hosts.pi.address = "300.1.1.1";
      s.hosts.jetson.board = "orin";
    });
    expect(found).toHaveLength(2);
    // A schema error does not hide a bad reference elsewhere.
    expect(
      issues((s) => {
        s.hosts.pi.address = "300.1.1.1";
        s.karmada.members = ["cloud"];
      }),
    ).toEqual([
      'hosts.pi.address: "300.1.1.1" is not an IPv4 address or a host name',
      'karmada.members.0: "cloud" is not a cluster of this spec (known: "mgmt", "edge")',
    ]);
    // A missing image neither: the vAccel nodes' names are still checked in the same run.
    expect(
      issues((s) => {
        delete s.vaccel.appImage;
        s.vaccel.gpuNode = "orin";
      }).map((l) => l.split(":")[0]),
    ).toEqual(["vaccel.appImage", "vaccel.gpuNode"]);
    const refs = issues((s) => {
      s.vms["k3s-cp"].hypervisor = "pi";
      s.karmada.members = ["cloud"];
      delete s.zfs.acknowledgeSyncDisabled;
    });
    expect(refs.map((l) => l.split(":")[0])).toEqual([
      "vms.k3s-cp.hypervisor",
      "zfs.acknowledgeSyncDisabled",
      "karmada.members.0",
      "vaccel.clientNode",
      "vaccel.gpuNode",
    ]);
  });

  it("never prints a secret's value", () => {
    const raw = demo();
    raw.hosts.pi.sudoPassword = 12345;
    expect(() => loadSpec(raw, { readFile })).toThrow(SpecError);
    expect(validateSpec(raw, { readFile }).issues.map(formatIssue)).toEqual([
      "hosts.pi.sudoPassword: (secret) expected a string",
    ]);
  });

  it("can treat unreadable key files as warnings (validate and plan)", () => {
    const raw = demo();
    raw.hosts.nuc.privateKeyFile = "/keys/nope";
    const spec = loadSpec(raw, { readFile, unreadableFiles: "warn" });
    expect(spec.warnings.map(formatIssue)).toEqual([
      'hosts.nuc.privateKeyFile: "/keys/nope" cannot be read (no such file); pulumi up needs it',
    ]);
  });
});

describe("loadSpec refuses what the hosts, Incus and Kubernetes would refuse, naming the field", () => {
  const blob = HK.split(" ")[1];
  it.each<[string, (s: Record<string, any>) => void, string[]]>([
    [
      "a host key whose base64 is invalid",
      (s) => (s.hosts.pi.hostKey = "ssh-ed25519 AAAA!!notbase64"),
      [
        'hosts.pi.hostKey: the key after ssh-ed25519 is not valid base64; expected an SSH public key in authorized_keys format ("ssh-ed25519 AAAA...", as ssh-keyscan prints it)',
      ],
    ],
    [
      "a host key whose type does not match its blob",
      (s) => (s.hosts.pi.hostKey = `ssh-rsa ${blob}`),
      ["hosts.pi.hostKey: says ssh-rsa, but the key is ssh-ed25519; copy the whole line again"],
    ],
    [
      "a host key cut short",
      (s) => (s.hosts.pi.hostKey = `ssh-ed25519 ${blob.slice(0, 8)}`),
      ["hosts.pi.hostKey: the key after ssh-ed25519 is truncated"],
    ],
    [
      "a Jetson with arch amd64",
      (s) => (s.hosts.jetson.arch = "amd64"),
      ['hosts.jetson.arch: "amd64" does not match board "jetson", which is arm64; set arch: arm64'],
    ],
    [
      "a Raspberry Pi without arch",
      (s) => delete s.hosts.pi.arch,
      ['hosts.pi.arch: "amd64" does not match board "raspberry-pi", which is arm64; set arch: arm64'],
    ],
    [
      "label keys Kubernetes refuses",
      (s) => (s.hosts.pi.labels = { "bad key!/x/y": "a", ["k".repeat(130)]: "b", "Example.com/x": "c" }),
      [
        `hosts.pi.labels: key "bad key!/x/y" is not a Kubernetes label key: an optional prefix (a DNS subdomain, lower case, at most 253 characters) and '/', then a name of at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit`,
        `hosts.pi.labels: key "${"k".repeat(80)}"... (130 characters) is not a Kubernetes label key: an optional prefix (a DNS subdomain, lower case, at most 253 characters) and '/', then a name of at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit`,
        `hosts.pi.labels: key "Example.com/x" is not a Kubernetes label key: an optional prefix (a DNS subdomain, lower case, at most 253 characters) and '/', then a name of at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit`,
      ],
    ],
    [
      "label values Kubernetes refuses",
      (s) => (s.vms["k3s-cp"].labels = { zone: "edge site", tier: '"quoted"', ok: "", fine: "a.b_c-1" }),
      [
        `vms.k3s-cp.labels.zone: "edge site" is not a Kubernetes label value: empty, or at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit`,
        `vms.k3s-cp.labels.tier: "\\"quoted\\"" is not a Kubernetes label value: empty, or at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit`,
      ],
    ],
    [
      "text that was not UTF-8",
      (s) => (s.vms["k3s-cp"].image = "images:ubuntu/22.04/cl\uFFFDud"),
      ["vms.k3s-cp.image: holds bytes that are not UTF-8 (decoded as U+FFFD); save the stack file as UTF-8"],
    ],
    ...(["0GiB", "0MiB", "1.5GiB", "6KB", "6 GiB", "GiB", "-1GiB", "9999999999TiB"] as const).map(
      (size) =>
        [
          `disk ${size}`,
          (s: Record<string, any>) => (s.vms["k3s-cp"].disk = size),
          [
            `vms.k3s-cp.disk: ${JSON.stringify(size)} must be a whole number above 0 and a unit Incus reads (kB, MB, GB, TB, KiB, MiB, GiB, TiB), like 6GiB`,
          ],
        ] as [string, (s: Record<string, any>) => void, string[]],
    ),
    [
      "a VM address equal to its explicit gateway",
      (s) => (s.vms["k3s-cp"].gateway = "198.19.0.21"),
      [
        'vms.k3s-cp.gateway: "198.19.0.21" is also the VM\'s gateway; give the VM another address, or set vms.k3s-cp.gateway',
      ],
    ],
    [
      "a VM address equal to its default gateway",
      (s) => (s.vms["k3s-cp"].address = "198.19.0.1"),
      [
        'vms.k3s-cp.address: "198.19.0.1" is also the VM\'s gateway (by default the .1 of its /24); give the VM another address, or set vms.k3s-cp.gateway',
      ],
    ],
    [
      "a gateway outside the VM's network",
      (s) => (s.vms["k3s-cp"].gateway = "198.20.0.1"),
      [
        'vms.k3s-cp.gateway: gateway "198.20.0.1" is outside the VM\'s network 198.19.0.21/24; set vms.k3s-cp.gateway or prefixLength',
      ],
    ],
    ...(["t; rm -rf /", "$(id)", "a b", "`id`", "Admin", "x".repeat(33)] as const).map(
      (user) =>
        [
          `a user ${JSON.stringify(user.slice(0, 12))}`,
          (s: Record<string, any>) => (s.hosts.jetson.user = user),
          [
            `hosts.jetson.user: ${JSON.stringify(user)} must be a Linux user name: lower-case letters, digits, '_', '-' or '.', starting with a letter or '_', at most 32 characters`,
          ],
        ] as [string, (s: Record<string, any>) => void, string[]],
    ),
    [
      "a sudo password of two lines",
      (s) => (s.hosts.pi.sudoPassword = "pw\nrm -rf /"),
      ["hosts.pi.sudoPassword: (secret) must be one line: sudo reads the password up to the first newline"],
    ],
  ])("%s", (_what, mutate, expected) => {
    expect(issues(mutate)).toEqual(expected);
  });

  it("accepts what Incus accepts", () => {
    for (const size of ["1kB", "512MiB", "6GiB", "40GB", "1TiB"])
      expect(issues((s) => (s.vms["k3s-cp"].disk = size))).toEqual([]);
  });

  it("refuses a sudo password file of two lines", () => {
    files["/keys/pw"] = "pw\nsecond line\n";
    const found = issues((s) => {
      delete s.hosts.pi.sudoPassword;
      s.hosts.pi.sudoPasswordFile = "/keys/pw";
    });
    expect(found).toEqual([
      "hosts.pi.sudoPasswordFile: (secret) must be one line: sudo reads the password up to the first newline",
    ]);
  });
});

describe("messages: what is wrong comes first, and nothing follows from it", () => {
  it("says what a spec looks like when there is none", () => {
    for (const raw of [{}, [], null])
      expect(validateSpec(raw as never, { readFile }).issues.map(formatIssue)).toEqual([
        expect.stringMatching(/^\(top level\): no testbed settings found; a stack file holds the spec under `config:`/),
      ]);
  });

  it("reports testbed:host as a misspelling of testbed:hosts, and nothing that follows from it", () => {
    const raw = demo();
    raw.host = raw.hosts;
    delete raw.hosts;
    expect(validateSpec(raw, { readFile }).issues.map(formatIssue)).toEqual([
      'host: unknown setting "testbed:host"; did you mean "testbed:hosts"?',
    ]);
    // An error inside the misspelt setting still shows.
    raw.host.pi.address = "300.1.1.1";
    expect(validateSpec(raw, { readFile }).issues.map(formatIssue)).toEqual([
      'host: unknown setting "testbed:host"; did you mean "testbed:hosts"?',
      'hosts.pi.address: "300.1.1.1" is not an IPv4 address or a host name',
    ]);
  });

  it("suggests the nearest setting inside a host, without a follow-on 'is required'", () => {
    expect(
      issues((s) => {
        s.hosts.pi.adress = s.hosts.pi.address;
        delete s.hosts.pi.address;
        s.hosts.jetson.privatekey = s.hosts.jetson.privateKey;
        delete s.hosts.jetson.privateKey;
      }),
    ).toEqual([
      'hosts.pi.adress: unknown setting "adress"; did you mean "address"?',
      'hosts.jetson.privatekey: unknown setting "privatekey"; did you mean "privateKey"?',
    ]);
  });

  it("lists the known settings for a name too far from any", () => {
    expect(issues((s) => (s.zfs.wibble = 1))).toEqual([
      'zfs: unknown setting(s) "wibble"; known here: dataset, profile, properties, acknowledgeSyncDisabled (README.md, "Settings")',
    ]);
  });
});

describe("no message shows a secret, wherever it was pasted", () => {
  const PEM = [
    "-----BEGIN OPENSSH PRIVATE KEY-----",
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW",
    "QyNTUxOQAAACDqpapuCXupa98xdGDQOCnZRYa3Cv+u1QRfO92mz20ELAAAAJgAAAAAAAAA",
    "-----END OPENSSH PRIVATE KEY-----",
  ].join("\n");
  const PASSWORD = "hunter2-pasted";
  const TOKEN =
    "K10c5a7f3e9b2d4a6c8e0f1a3b5c7d9e1f3a5b7c9d1e3f5a7b9c1d3e5f7a9b1c3::server:0f1e2d3c4b5a69788796a5b4c3d2e1f0";
  /** Everything a user could see: errors and warnings, as validate, plan and pulumi up print them. */
  function shown(raw: Record<string, any>): string {
    const r = validateSpec(raw, { readFile, unreadableFiles: "warn" });
    return [...r.issues, ...(r.spec?.warnings ?? [])].map(formatIssue).join("\n");
  }
  function expectClean(out: string) {
    expect(out).not.toBe("");
    for (const secret of [PASSWORD, TOKEN, ...PEM.split("\n")]) expect(out).not.toContain(secret);
    expect(out).not.toContain("BEGIN");
    expect(out).not.toContain(TOKEN.slice(0, 20));
  }

  it.each<[string, (s: Record<string, any>) => void]>([
    ["a PEM pasted into privateKeyFile", (s) => (s.hosts.nuc.privateKeyFile = PEM)],
    [
      "a password pasted into sudoPasswordFile",
      (s) => {
        delete s.hosts.pi.sudoPassword;
        s.hosts.pi.sudoPasswordFile = PASSWORD;
      },
    ],
    ["a PEM pasted into hostKey", (s) => (s.hosts.pi.hostKey = PEM)],
    ["a PEM pasted into hostKeyFile", (s) => (s.hosts.nuc.hostKeyFile = PEM)],
    [
      "hosts written as a list",
      (s) => (s.hosts = [{ name: "pi", privateKey: PEM, sudoPassword: PASSWORD, token: TOKEN }]),
    ],
    ["one host written as a list", (s) => (s.hosts.pi = [PEM, PASSWORD, TOKEN])],
    ["a host written as a string", (s) => (s.hosts.pi = `${PEM}\n${PASSWORD}`)],
    ["a token as a jump host", (s) => (s.hosts.pi.jump = TOKEN)],
    ["a token as a cluster's agent", (s) => s.clusters.edge.agents.push(TOKEN)],
    ["a token as a label value", (s) => (s.hosts.pi.labels = { "k3s-token": `${TOKEN} ` })],
    ["a token as a label key", (s) => (s.hosts.pi.labels = { [TOKEN]: "x" })],
    ["a password under a secret-named label", (s) => (s.hosts.pi.labels = { password: `${PASSWORD} !` })],
    ["a PEM as an unknown setting's name", (s) => (s.hosts.pi[PEM] = 1)],
    ["a PEM as a VM size", (s) => (s.vms["k3s-cp"].memory = PEM)],
    ["a password typed as a number", (s) => (s.hosts.pi.sudoPassword = 12345)],
    ["a sudo password where a key belongs", (s) => (s.hosts.pi.sudoPasword = PASSWORD)],
  ])("%s", (_what, mutate) => {
    const raw = demo();
    mutate(raw);
    expectClean(shown(raw));
  });
});

describe("the committed stacks", () => {
  const root = path.resolve(__dirname, "../..");
  const check = (stack: string, raw = readStackConfig(path.join(root, "stacks", `Pulumi.${stack}.yaml`))) =>
    validateSpec(raw, { baseDir: root, unreadableFiles: "warn" }).issues.map(formatIssue);

  it("stacks/Pulumi.sim.yaml is valid", () => {
    expect(check("sim")).toEqual([]);
  });

  it("stacks/Pulumi.demo.yaml is refused only for its vAccel images, which the operator must supply", () => {
    const placeholder =
      "is a placeholder: put the reference of the image you built or mirrored, pinned by a version tag or a sha256 digest";
    expect(check("demo")).toEqual([
      `vaccel.agentImage: "<registry>/vaccel-rpc-agent:<version>" ${placeholder}`,
      `vaccel.appImage: "<registry>/yolo-vaccel:<version>" ${placeholder}`,
    ]);
    const filled = readStackConfig(path.join(root, "stacks/Pulumi.demo.yaml"));
    Object.assign(filled.vaccel as object, EXAMPLE_IMAGES);
    expect(check("demo", filled)).toEqual([]);
  });
});

describe("cidrsOverlap", () => {
  it.each([
    ["10.10.0.0/16", "10.11.0.0/16", false],
    ["10.10.0.0/16", "10.10.255.0/24", true],
    ["10.0.0.0/8", "10.200.0.0/16", true],
    ["192.168.0.0/24", "192.168.1.0/24", false],
  ] as const)("%s vs %s -> %s", (a, b, expected) => {
    expect(cidrsOverlap(a, b)).toBe(expected);
    expect(cidrsOverlap(b, a)).toBe(expected);
  });
});
