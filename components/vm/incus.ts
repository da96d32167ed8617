import { utils } from "ssh2";
import type { HostSpec, VmSpec } from "../spec";
import { type InlineStepScript, shq } from "../remote/script";

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
 * Launches the VM if it does not exist, waits until its agent answers and cloud-init is done, then prints
 * `incus list <vm> --format json` and the VM's SSH host key, read over the hypervisor's pinned connection, so
 * the VM's key is pinned without trusting the network. Delete removes the VM (and its disk) if it exists.
 */
export function launchScript(name: string, vm: VmSpec, kind: "incus" | "lxd", userData: string): InlineStepScript {
  const cli = cliFor(kind);
  const network = cloudInitNetworkConfig(vm);
  const launch = [
    `${cli} launch ${shq(vm.image)} ${shq(name)} --vm`,
    `-c limits.cpu=${vm.cpus} -c limits.memory=${shq(vm.memory)}`,
    `-d root,size=${shq(vm.disk)} -s ${shq(vm.storagePool)}`,
    `--config=cloud-init.user-data="$user_data"`,
    ...(network ? [`--config=cloud-init.network-config="$network_config"`] : []),
  ].join(" ");
  return {
    create: `
command -v ${cli} >/dev/null || fail "${cli} is not installed on this host (install Incus, or set hypervisor.kind)"
user_data=${shq(userData)}
${network ? `network_config=${shq(network)}` : ""}
if ${cli} info ${shq(name)} >/dev/null 2>&1; then
  state=unchanged
else
  ${launch} >&2
  state=changed
fi
ready=no
for i in $(seq 1 ${VM_READY_ATTEMPTS}); do
  if ${cli} exec ${shq(name)} -- cloud-init status --wait >/dev/null 2>&1 \\
    && ${cli} exec ${shq(name)} -- test -s /etc/ssh/ssh_host_ed25519_key.pub; then ready=yes; break; fi
  echo "waiting for VM ${name} to finish booting (cloud-init), attempt $i/${VM_READY_ATTEMPTS}" >&2
  sleep ${VM_READY_INTERVAL_S}
done
[ "$ready" = yes ] || fail "VM ${name} did not finish cloud-init within $((${VM_READY_ATTEMPTS} * ${VM_READY_INTERVAL_S})) s; see '${cli} console ${name} --show-log'"
host_key="$(${vmHostKeyCommand(cli, name)})"
instances="$(${cli} list ${shq(name)} --format json | tr -d '\\n')"
output "{\\"hostKey\\":\\"$host_key\\",\\"instances\\":$instances}"
$state "VM ${name} (${vm.cpus} CPU, ${vm.memory}, ${vm.disk} on pool ${vm.storagePool})"`,
    delete: `
if ${cli} info ${shq(name)} >/dev/null 2>&1; then
  ${cli} delete ${shq(name)} --force >&2
  changed "deleted VM ${name}"
else
  unchanged "VM ${name} already absent"
fi`,
  };
}

interface IncusInstance {
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
