import { utils } from "ssh2";
import type { HostSpec, VmSpec } from "../spec";
import { type StepScript, readShellFile, shq } from "../remote/script";

/** How long a launch waits for the VM's agent and cloud-init: 60 tries, 5 s apart (Ubuntu VMs boot in ~30-90 s). */
export const VM_READY_ATTEMPTS = 60;
export const VM_READY_INTERVAL_S = 5;

/** The public half of an OpenSSH private key, in authorized_keys format, for cloud-init. */
export function publicKeyOf(privateKey: string): string {
  const parsed = utils.parseKey(privateKey);
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (key instanceof Error) throw new Error(`cannot read the private key: ${key.message}`);
  return `${key.type} ${key.getPublicSSH().toString("base64")}`;
}

/** cloud-init user-data: the login user with the key and passwordless sudo (the image has no other way in). */
export function cloudInitUserData(user: string, publicKey: string): string {
  return [
    "#cloud-config",
    "users:",
    `  - name: ${user}`,
    "    shell: /bin/bash",
    "    sudo: ALL=(ALL) NOPASSWD:ALL",
    "    ssh_authorized_keys:",
    `      - ${publicKey}`,
    "ssh_pwauth: false",
    "",
  ].join("\n");
}

/** cloud-init network-config (v2) for a static address; undefined lets Incus' DHCP assign one. */
export function cloudInitNetworkConfig(vm: VmSpec): string | undefined {
  if (vm.address === undefined) return undefined;
  const gateway = vm.gateway ?? vm.address.replace(/\.[0-9]+$/, ".1");
  return [
    "version: 2",
    "ethernets:",
    "  primary:",
    "    match:",
    '      name: "en*"',
    `    addresses: [${vm.address}/${vm.prefixLength}]`,
    "    routes:",
    `      - to: default`,
    `        via: ${gateway}`,
    "",
  ].join("\n");
}

/** The command that prints a VM's SSH host key (authorized_keys form, no comment), run on its hypervisor. */
export function vmHostKeyCommand(cli: string, name: string): string {
  return `${cli} exec ${shq(name)} -- cat /etc/ssh/ssh_host_ed25519_key.pub | cut -d' ' -f1-2`;
}

/** The CLI for a hypervisor kind: Incus' `incus`, or LXD's `lxc` with the same arguments. */
export function cliFor(kind: "incus" | "lxd"): string {
  return kind === "lxd" ? "lxc" : "incus";
}

/**
 * The launch step (launch.sh): launches the VM if it does not exist, waits until its agent answers and cloud-init
 * is done, then prints `incus list <vm> --format json` and the VM's SSH host key (as vmHostKeyCommand reads it),
 * read over the hypervisor's pinned connection. Delete removes the VM (and its disk) if it exists.
 */
export function launchScript(name: string, vm: VmSpec, kind: "incus" | "lxd", userData: string): StepScript {
  return {
    values: {
      cli: cliFor(kind),
      name,
      image: vm.image,
      cpus: vm.cpus,
      memory: vm.memory,
      disk: vm.disk,
      storage_pool: vm.storagePool,
      user_data: userData,
      network_config: cloudInitNetworkConfig(vm) ?? "",
      ready_attempts: VM_READY_ATTEMPTS,
      ready_interval_s: VM_READY_INTERVAL_S,
    },
    body: readShellFile(__dirname, "launch.sh"),
  };
}

export interface IncusInstance {
  name: string;
  config?: Record<string, string>;
  state?: {
    network?: Record<
      string,
      { hwaddr?: string; addresses?: { family: string; address: string; scope: string }[] } | undefined
    >;
  };
}

/**
 * The VM's address from the launch step's output: the spec's static one, or the IPv4 of the guest interface whose
 * MAC is the one Incus gave the VM's NIC (`volatile.<nic>.hwaddr` in its config). Not "the first global IPv4":
 * the Incus VM agent reports every guest interface, in name order (`state.network` is a map, written sorted), so
 * once k3s runs in the VM its cni0 (10.42.x.1) comes before enp5s0 and is unreachable from anywhere else.
 */
export function addressFromLaunch(host: HostSpec, launch: { instances: IncusInstance[] }): string {
  if (host.address !== undefined) return host.address;
  const inst = launch.instances.find((i) => i.name === host.name);
  const macs = Object.entries(inst?.config ?? {})
    .filter(([k]) => /^volatile\.[^.]+\.hwaddr$/.test(k))
    .map(([, v]) => v.toLowerCase());
  if (macs.length === 0)
    throw new Error(
      `VM ${host.name}: Incus reports no NIC MAC (volatile.<nic>.hwaddr) for it; is it a VM of this hypervisor?`,
    );
  const nics = Object.entries(inst?.state?.network ?? {}).filter(([, n]) =>
    macs.includes((n?.hwaddr ?? "").toLowerCase()),
  );
  for (const [, nic] of nics) {
    const a = nic?.addresses?.find((x) => x.family === "inet" && x.scope === "global");
    if (a) return a.address;
  }
  throw new Error(
    `VM ${host.name}: its NIC (MAC ${macs.join(", ")}) has no global IPv4 address${nics.length ? ` on ${nics.map(([n]) => n).join(", ")}` : ""}; is the VM's network up?`,
  );
}
