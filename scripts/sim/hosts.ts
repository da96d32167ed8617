import { execFileSync, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { parse } from "yaml";
import { kubeApiServerBinary } from "../lib/kubeApiServer";

/**
 * The simulated testbed's hosts: each a network namespace with its own address (198.18.0.0/15 only), its own
 * sshd and host key, and its own view of the file system (a mount namespace with overlays of the paths the
 * provisioner writes, whose upper dirs show what a step left behind). VMs sit on a second bridge that only the
 * nuc routes to, so they are reachable only with the nuc as jump host.
 */

export const REPO = path.resolve(__dirname, "../..");
export const SIM_DIR = path.join(REPO, ".sim");
export const SIM_STACK = path.join(REPO, "stacks/Pulumi.sim.yaml");
const STATE = path.join(SIM_DIR, "hosts.json");
const DOUBLES = path.join(__dirname, "doubles");
const ANCHOR = path.join(SIM_DIR, "anchor.pid");

/** The machines' bridge in the root namespace; the root side is the "operator". */
export const BRIDGE = "tbsim0";
export const BRIDGE_ADDRESS = "198.18.0.1";
/**
 * The VMs' bridge: no address in the root namespace, so only the nuc (198.19.0.1) reaches the VMs. The operator has a
 * route to them through the nuc for their Kubernetes ports only (OPERATOR_TO_VM_PORTS); SSH goes through the nuc as
 * jump host.
 */
export const VM_BRIDGE = "tbsimvm0";
export const VM_GATEWAY = "198.19.0.1";
export const VM_NET = "198.19.0.0/24";
/** The nuc's address on the machines' bridge: the operator's gateway to VM_NET. */
export const NUC_ADDRESS = "198.18.0.10";
/**
 * The TCP ports the nuc forwards from the operator to the VMs: the Kubernetes API (k3s' 6443) and the NodePort
 * range (kube-apiserver's default, which k3s keeps: Karmada's API is a NodePort). Anything else is rejected.
 */
export const OPERATOR_TO_VM_PORTS = "6443, 30000-32767";

/**
 * The nuc's forward filter (nft): from the operator (BRIDGE_ADDRESS) to VM_NET, only OPERATOR_TO_VM_PORTS; the rest
 * is rejected at once (a TCP reset, so a refused SSH fails fast rather than timing out). Traffic of the boards (they
 * join the k3s server through the nuc) and the VMs' replies are not the operator's new traffic, and pass.
 */
export function nucFilter(): string {
  return `table inet testbed-sim {
  chain forward {
    type filter hook forward priority 0; policy accept;
    ip saddr ${BRIDGE_ADDRESS} ip daddr ${VM_NET} tcp dport { ${OPERATOR_TO_VM_PORTS} } accept
    ip saddr ${BRIDGE_ADDRESS} ip daddr ${VM_NET} meta l4proto tcp reject with tcp reset
    ip saddr ${BRIDGE_ADDRESS} ip daddr ${VM_NET} reject
  }
}
`;
}
/** The benchmarking range (RFC 2544) the sim's addresses come from. */
export const SIM_RANGE = "198.18.0.0/15";
/** Paths the provisioner writes, each an overlay per host. */
export const OVERLAY_DIRS = ["/etc", "/var/lib", "/usr/local", "/opt", "/boot", "/home", "/root", "/srv"];
/** Where a host sees its test doubles (inside its /opt overlay). */
export const DOUBLES_MOUNT = "/opt/testbed-sim";
export const SIM_USER = "testbed";

export interface SimHost {
  name: string;
  kind: "machine" | "vm";
  address: string;
  netns: string;
  /** Host-side veth names (removed on down). */
  links: string[];
  /** The process group leader running the host's sshd (and its sessions). */
  pid?: number;
  arch: "amd64" | "arm64";
  board: string;
  /** authorized_keys line the host's sshd presents. */
  hostKey?: string;
}

export interface SimState {
  hosts: SimHost[];
}

export function loadState(): SimState {
  return fs.existsSync(STATE) ? (JSON.parse(fs.readFileSync(STATE, "utf8")) as SimState) : { hosts: [] };
}

/**
 * Written whole or not at all (a new file renamed over the old): readers take no lock (the Incus double's `list`
 * while another VM launches, loadState), and a file truncated by writeFileSync was read as empty JSON mid-launch.
 */
export function saveState(state: SimState, file = STATE): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(state, null, 2));
  fs.renameSync(tmp, file);
}

function sh(script: string, opts: { allowFail?: boolean } = {}): string {
  const r = spawnSync("bash", ["-c", script], { encoding: "utf8" });
  if (r.status !== 0 && !opts.allowFail) throw new Error(`sim: command failed (${r.status}): ${script}\n${r.stderr}`);
  return r.stdout;
}

/** Machines of the sim stack, as its file describes them. */
export function simMachines(): {
  name: string;
  address: string;
  arch: "amd64" | "arm64";
  board: string;
  sudoPassword: boolean;
}[] {
  const doc = parse(fs.readFileSync(SIM_STACK, "utf8")) as {
    config: Record<string, Record<string, Record<string, unknown>>>;
  };
  return Object.entries(doc.config["testbed:hosts"]).map(([name, h]) => ({
    name,
    address: String(h.address),
    arch: (h.arch as "amd64" | "arm64") ?? "amd64",
    board: (h.board as string) ?? "generic",
    sudoPassword: h.sudoPasswordFile !== undefined,
  }));
}

export const KEY_FILE = path.join(SIM_DIR, "keys/id_ed25519");
export const PI_SUDO_PASSWORD_FILE = path.join(SIM_DIR, "keys/pi-sudo-password");

function ensureKeys(): void {
  fs.mkdirSync(path.dirname(KEY_FILE), { recursive: true, mode: 0o700 });
  if (!fs.existsSync(KEY_FILE))
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "testbed-sim", "-f", KEY_FILE]);
  if (!fs.existsSync(PI_SUDO_PASSWORD_FILE))
    fs.writeFileSync(PI_SUDO_PASSWORD_FILE, `sim-${Math.random().toString(36).slice(2, 12)}\n`, { mode: 0o600 });
}

/** The bash that runs inside a host's fresh mount namespace: overlays, user, keys, doubles, then sshd. */
export function bootScript(host: {
  name: string;
  address: string;
  arch: string;
  board: string;
  user: string;
  authorizedKey: string;
  sudoPassword?: string;
  zfsPool?: string;
  vm?: boolean;
  /** Fault: every fdatasync under this host's sshd (so every step's) is delayed this many microseconds. */
  slowDiskUs?: number;
}): string {
  const dir = path.join(SIM_DIR, "hosts", host.name);
  const overlays = OVERLAY_DIRS.map(
    (d) =>
      `mkdir -p ${dir}/upper${d} ${dir}/work${d} && mount -t overlay overlay -o lowerdir=${d},upperdir=${dir}/upper${d},workdir=${dir}/work${d} ${d}`,
  ).join("\n");
  const doubles = ["incus", "k3s-install.sh", "k3s", "systemctl", "journalctl", "reboot"];
  if (host.arch === "arm64") doubles.push("uname");
  // nvidia-container-runtime is not on PATH: JetPack installs it in /usr/bin, where k3s looks (below).
  if (host.board === "jetson") doubles.push("nvidia-smi", "nvidia-ctk");
  if (host.vm) doubles.push("cloud-init");
  const sudoers = host.sudoPassword ? `${host.user} ALL=(ALL) ALL` : `${host.user} ALL=(ALL) NOPASSWD:ALL`;
  return `set -euo pipefail
mount --make-rprivate /
${overlays}
# /run survives a restart of sshd (restartHost) as it would on a real host; a reboot empties it (rebootHost).
mkdir -p ${dir}/run && mount --bind ${dir}/run /run && mkdir -p /run/sshd /run/lock /run/zfs
# The doubles: visible only on the sim hosts, first on PATH for SSH sessions and for sudo.
mkdir -p ${DOUBLES_MOUNT}/bin ${DOUBLES_MOUNT}/doubles
mount --bind ${DOUBLES} ${DOUBLES_MOUNT}/doubles && mount -o remount,bind,ro ${DOUBLES_MOUNT}/doubles
${doubles.map((d) => `ln -sf ${DOUBLES_MOUNT}/doubles/${d} ${DOUBLES_MOUNT}/bin/${d}`).join("\n")}
ln -sf ${DOUBLES_MOUNT}/doubles/k3s-install.sh ${DOUBLES_MOUNT}/k3s-install.sh
echo ${REPO} > ${DOUBLES_MOUNT}/repo
# The k3s double's server runs this kube-apiserver: the path computed here, where HOME and XDG_CACHE_HOME are the
# user's (the host's units run with neither), and visible on every host through its /root overlay.
echo ${kubeApiServerBinary()} > ${DOUBLES_MOUNT}/kube-apiserver
echo ${JSON.stringify(host.name)} > /etc/hostname
id ${host.user} >/dev/null 2>&1 || useradd -m -s /bin/bash ${host.user}
${host.sudoPassword ? `echo ${JSON.stringify(`${host.user}:${host.sudoPassword}`)} | chpasswd` : `passwd -d ${host.user} >/dev/null`}
install -d -m 700 -o ${host.user} -g ${host.user} /home/${host.user}/.ssh
echo ${JSON.stringify(host.authorizedKey)} > /home/${host.user}/.ssh/authorized_keys
chown ${host.user}: /home/${host.user}/.ssh/authorized_keys && chmod 600 /home/${host.user}/.ssh/authorized_keys
printf '%s\\n' ${JSON.stringify(sudoers)} 'Defaults secure_path="${DOUBLES_MOUNT}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"' > /etc/sudoers.d/testbed-sim
chmod 440 /etc/sudoers.d/testbed-sim
# Its own host key at the standard path (Incus reads it there): generated once, kept across restarts.
if [ ! -f ${dir}/upper/etc/ssh/ssh_host_ed25519_key ]; then
  rm -f /etc/ssh/ssh_host_ed25519_key /etc/ssh/ssh_host_ed25519_key.pub
  ssh-keygen -q -t ed25519 -N "" -C "" -f /etc/ssh/ssh_host_ed25519_key
fi
cut -d" " -f1-2 /etc/ssh/ssh_host_ed25519_key.pub > ${dir}/host_key.pub
cat > /etc/ssh/sshd_config_sim <<EOF
ListenAddress ${host.address}
Port 22
HostKey /etc/ssh/ssh_host_ed25519_key
PidFile /run/sshd.pid
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin no
UsePAM no
AcceptEnv LANG LC_*
SetEnv PATH=${DOUBLES_MOUNT}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
Subsystem sftp internal-sftp
MaxStartups 100:30:200
MaxSessions 100
EOF
${host.board === "raspberry-pi" ? piBoot() : ""}
${host.board === "jetson" ? jetsonBoot(dir) : ""}
${
  host.zfsPool
    ? `# The real ZFS CLI (zfs-fuse) with a file-backed pool, like an Incus pool (mountpoint=none).
zfs-fuse --pidfile ${dir}/zfs-fuse.pid
for i in $(seq 100); do [ -S /run/zfs/zfs_socket ] && break; sleep 0.1; done
[ -f ${dir}/pool.img ] || truncate -s 512M ${dir}/pool.img
zpool import -d ${dir} ${host.zfsPool} >/dev/null 2>&1 || zpool create -f -m none ${host.zfsPool} ${dir}/pool.img`
    : ""
}
# The services enabled on this host start at boot, as multi-user.target's (k3s after a reboot).
${DOUBLES_MOUNT}/bin/systemctl --boot || true
exec ${host.slowDiskUs ? `strace -f -o /dev/null -e trace=fdatasync -e inject=fdatasync:delay_exit=${host.slowDiskUs} ` : ""}/usr/sbin/sshd -D -f /etc/ssh/sshd_config_sim -E /run/sshd.log
`;
}

/**
 * The Raspberry Pi's kernel enables the memory cgroup only when its command line says cgroup_enable=memory (k3s
 * docs, "Raspberry Pi"; k3s-io/k3s install.sh, service_enable_and_start(): "Failed to find memory cgroup, you may
 * need to add ..."). This "kernel" reads cmdline.txt at each boot: without the flag, the host sees no memory
 * controller in /sys/fs/cgroup/cgroup.controllers nor in /proc/cgroups, so the provisioner must reboot it.
 */
function piBoot(): string {
  return `mkdir -p /boot/firmware && [ -f /boot/firmware/cmdline.txt ] || echo "console=serial0,115200 console=tty1 root=PARTUUID=0b2b1b9e-02 rootfstype=ext4 fsck.repair=yes rootwait" > /boot/firmware/cmdline.txt
if ! grep -qw cgroup_enable=memory /boot/firmware/cmdline.txt; then
  mkdir -p /run/testbed-sim-kernel
  if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
    tr ' ' '\\n' < /sys/fs/cgroup/cgroup.controllers | grep -vx memory | tr '\\n' ' ' > /run/testbed-sim-kernel/cgroup.controllers
    mount --bind /run/testbed-sim-kernel/cgroup.controllers /sys/fs/cgroup/cgroup.controllers
  fi
  awk '$1 == "memory" { $4 = 0 } { print }' /proc/cgroups > /run/testbed-sim-kernel/cgroups
  mount --bind /run/testbed-sim-kernel/cgroups /proc/cgroups
fi`;
}

/** JetPack installs the NVIDIA container runtime in /usr/bin, one of the two places k3s looks (see the k3s double). */
function jetsonBoot(dir: string): string {
  return `mkdir -p ${dir}/upper/usr/bin ${dir}/work/usr/bin
mount -t overlay overlay -o lowerdir=/usr/bin,upperdir=${dir}/upper/usr/bin,workdir=${dir}/work/usr/bin /usr/bin
[ -e /usr/bin/nvidia-container-runtime ] || ln -s ${DOUBLES_MOUNT}/doubles/nvidia-container-runtime /usr/bin/nvidia-container-runtime`;
}

/** Waits until something accepts TCP on address:22 inside the namespace. */
function waitForSsh(netns: string, address: string, seconds = 20): void {
  for (let i = 0; i < seconds * 10; i++) {
    if (spawnSync("ip", ["netns", "exec", netns, "bash", "-c", `exec 3<>/dev/tcp/${address}/22`]).status === 0) return;
    spawnSync("sleep", ["0.1"]);
  }
  const log = sh(`cat ${path.join(SIM_DIR, "hosts", netns.replace(/^tbs-/, ""), "boot.log")} 2>/dev/null || true`);
  throw new Error(`sim: the sshd of ${netns} did not come up at ${address}:22\n${log}`);
}

/** Per-host boot options, kept so a host can be restarted the same way (or with a fault). */
type BootOptions = Parameters<typeof bootScript>[0];

function startHost(
  host: SimHost,
  boot: Parameters<typeof bootScript>[0],
  network: { bridge: string; prefix: number; gateway?: string; routes?: string[]; extra?: () => void },
): SimHost {
  const dir = path.join(SIM_DIR, "hosts", host.name);
  fs.mkdirSync(dir, { recursive: true });
  // Interface names must be unique and at most 15 characters: derive a number from the host's address.
  const idx = host.address.split(".").slice(1).join("");
  const hostSide = `tbs${idx}`;
  sh(`ip netns add ${host.netns}
ip link add ${hostSide} type veth peer name tbp${idx}
ip link set tbp${idx} netns ${host.netns}
ip link set ${hostSide} master ${network.bridge} up
ip -n ${host.netns} link set tbp${idx} name eth0
ip -n ${host.netns} addr add ${host.address}/${network.prefix} dev eth0
ip -n ${host.netns} link set eth0 up
ip -n ${host.netns} link set lo up
${network.gateway ? `ip -n ${host.netns} route add default via ${network.gateway}` : ""}
${(network.routes ?? []).map((r) => `ip -n ${host.netns} route add ${r}`).join("\n")}`);
  host.links = [hostSide];
  network.extra?.();
  fs.rmSync(path.join(dir, "run"), { recursive: true, force: true });
  fs.writeFileSync(path.join(dir, "boot.json"), JSON.stringify(boot));
  startBootScript(host, boot);
  return host;
}

/** Runs a host's boot script in a fresh mount namespace inside its network namespace, detached. */
function startBootScript(host: SimHost, boot: BootOptions): void {
  const dir = path.join(SIM_DIR, "hosts", host.name);
  fs.writeFileSync(path.join(dir, "boot.sh"), bootScript(boot));
  const out = fs.openSync(path.join(dir, "boot.log"), "w");
  const child = spawn(
    "ip",
    [
      "netns",
      "exec",
      host.netns,
      "unshare",
      "--mount",
      "--propagation",
      "private",
      "--fork",
      "bash",
      path.join(dir, "boot.sh"),
    ],
    { detached: true, stdio: ["ignore", out, out] },
  );
  child.unref();
  host.pid = child.pid;
  waitForSsh(host.netns, host.address);
  host.hostKey = fs.readFileSync(path.join(dir, "host_key.pub"), "utf8").trim();
}

/**
 * Restarts a host's sshd (its overlays, users, host key and /run persist), optionally with a fault: a slow disk, or
 * a new SSH host key (as after a reinstall). Services started on it (the k3s double) keep running, and are started
 * again if they were stopped (stopHost: a host that lost power). rebootHost is the real reboot.
 */
export function restartHost(name: string, faults: { slowDiskUs?: number; newHostKey?: boolean } = {}): SimHost {
  const state = loadState();
  const host = state.hosts.find((h) => h.name === name);
  if (!host) throw new Error(`sim: no host ${name}`);
  if (host.pid) killTree(host.pid);
  const dir = path.join(SIM_DIR, "hosts", name);
  if (faults.newHostKey) fs.rmSync(path.join(dir, "upper/etc/ssh/ssh_host_ed25519_key"), { force: true });
  const boot = JSON.parse(fs.readFileSync(path.join(dir, "boot.json"), "utf8")) as BootOptions;
  startBootScript(host, { ...boot, slowDiskUs: faults.slowDiskUs });
  // The pinned key (.sim/hostkeys) is left alone: a new host key must be noticed, not silently trusted.
  saveState(state);
  return host;
}

/** Pins a machine's current host key in .sim/hostkeys (what an operator does after a legitimate reinstall). */
export function pinCurrentHostKey(name: string): void {
  const host = loadState().hosts.find((h) => h.name === name);
  if (host?.hostKey) fs.writeFileSync(path.join(SIM_DIR, "hostkeys", `${name}.pub`), `${host.hostKey}\n`);
}

/** Kills the SSH sessions (not the listener) of a host: a connection cut in the middle of whatever runs. */
export function cutConnections(name: string): number {
  const host = loadState().hosts.find((h) => h.name === name);
  if (!host) return 0;
  const pids = sh(`ip netns pids ${host.netns}`, { allowFail: true }).split("\n").filter(Boolean);
  let killed = 0;
  for (const pid of pids) {
    const cmd = sh(`tr '\\0' ' ' < /proc/${pid}/cmdline 2>/dev/null || true`, { allowFail: true });
    if (/^sshd: \S+ \[priv\]|^sshd: \S+@notty/.test(cmd)) {
      sh(`kill -9 ${pid} 2>/dev/null || true`, { allowFail: true });
      killed++;
    }
  }
  return killed;
}

export interface SimUpResult {
  hosts: SimHost[];
  seconds: number;
}

/** Creates the machines of the sim stack (idempotent: a half-made previous run is torn down first). */
export function simUp(): SimUpResult {
  const started = Date.now();
  if (loadState().hosts.length > 0) simDown();
  ensureKeys();
  const authorizedKey = fs.readFileSync(`${KEY_FILE}.pub`, "utf8").trim();
  const sudoPassword = fs.readFileSync(PI_SUDO_PASSWORD_FILE, "utf8").trim();
  sh(`ip link add ${BRIDGE} type bridge 2>/dev/null || true
ip addr replace ${BRIDGE_ADDRESS}/24 dev ${BRIDGE}
ip link set ${BRIDGE} up
ip link add ${VM_BRIDGE} type bridge 2>/dev/null || true
ip link set ${VM_BRIDGE} up
# Nothing for the sim's range may leave this machine: whatever is not on the machines' bridge is unreachable from
# here instead of going to the default gateway. The VMs' net gets its own route through the nuc, once the nuc is up.
ip route replace unreachable ${SIM_RANGE}`);
  fs.mkdirSync(path.join(SIM_DIR, "hostkeys"), { recursive: true });
  // A process left in the root namespaces: the Incus double enters them through it to start a VM host
  // (PID 1 may not be enterable in a container).
  const anchor = spawn("sleep", ["infinity"], { detached: true, stdio: "ignore" });
  anchor.unref();
  fs.writeFileSync(ANCHOR, String(anchor.pid));
  const state: SimState = { hosts: [] };
  for (const m of simMachines()) {
    const host: SimHost = {
      name: m.name,
      kind: "machine",
      address: m.address,
      netns: `tbs-${m.name}`,
      links: [],
      arch: m.arch,
      board: m.board,
    };
    const isNuc = m.name === "nuc";
    startHost(
      host,
      {
        name: m.name,
        address: m.address,
        arch: m.arch,
        board: m.board,
        user: SIM_USER,
        authorizedKey,
        sudoPassword: m.sudoPassword ? sudoPassword : undefined,
        zfsPool: isNuc ? "default" : undefined,
      },
      {
        bridge: BRIDGE,
        prefix: 24,
        // Agents reach the VMs (the k3s servers) through the nuc, as they would across the NUC's bridge.
        routes: isNuc ? [] : [`${VM_NET} via ${NUC_ADDRESS}`],
        extra: isNuc
          ? () =>
              sh(`ip link add tbn0 type veth peer name tbnp0
ip link set tbnp0 netns ${host.netns}
ip link set tbn0 master ${VM_BRIDGE} up
ip -n ${host.netns} link set tbnp0 name eth1
ip -n ${host.netns} addr add ${VM_GATEWAY}/24 dev eth1
ip -n ${host.netns} link set eth1 up
ip netns exec ${host.netns} sysctl -qw net.ipv4.ip_forward=1
ip netns exec ${host.netns} nft -f - <<'EOF'
${nucFilter()}EOF
# The operator's route to the VMs, once the nuc filters it: the route the README says a real operator needs.
ip route replace ${VM_NET} via ${NUC_ADDRESS}`)
          : undefined,
      },
    );
    if (isNuc) host.links.push("tbn0");
    fs.writeFileSync(path.join(SIM_DIR, "hostkeys", `${m.name}.pub`), `${host.hostKey}\n`);
    state.hosts.push(host);
    saveState(state);
  }
  return { hosts: state.hosts, seconds: (Date.now() - started) / 1000 };
}

/**
 * Starts a VM host behind the nuc (the Incus double calls this through `testbed sim vm-start`): its own
 * namespace on the VM bridge, the user and key cloud-init asked for, default route through the nuc.
 */
export function startVm(opts: { name: string; address?: string; user: string; authorizedKey: string }): SimHost {
  // Launches run concurrently (as Incus' do): only the host list is guarded, by a lock around its read-modify-write.
  const host = withStateLock(() => {
    const state = loadState();
    const existing = state.hosts.find((h) => h.name === opts.name);
    if (existing) return undefined;
    const used = new Set(state.hosts.map((h) => h.address));
    let address = opts.address;
    // Incus' DHCP range here starts at .100, clear of the static addresses a stack gives its VMs (.20, .21, ...).
    for (let i = 100; address === undefined && i < 250; i++) if (!used.has(`198.19.0.${i}`)) address = `198.19.0.${i}`;
    if (address === undefined) throw new Error("sim: no free VM address in 198.19.0.0/24");
    const h: SimHost = {
      name: opts.name,
      kind: "vm",
      address,
      netns: `tbs-${opts.name}`,
      links: [],
      arch: "amd64",
      board: "generic",
    };
    saveState({ hosts: [...state.hosts, h] });
    return h;
  });
  if (host === undefined) return loadState().hosts.find((h) => h.name === opts.name) as SimHost;
  startHost(
    host,
    {
      name: opts.name,
      address: host.address,
      arch: "amd64",
      board: "generic",
      user: opts.user,
      authorizedKey: opts.authorizedKey,
      vm: true,
    },
    { bridge: VM_BRIDGE, prefix: 24, gateway: VM_GATEWAY },
  );
  withStateLock(() => {
    const state = loadState();
    saveState({ hosts: state.hosts.map((h) => (h.name === host.name ? host : h)) });
  });
  return host;
}

/** Runs fn holding .sim/state.lock (mkdir is atomic): the Incus double may start VMs from several processes. */
function withStateLock<T>(fn: () => T): T {
  const lock = path.join(SIM_DIR, "state.lock");
  for (let i = 0; ; i++) {
    try {
      fs.mkdirSync(lock);
      break;
    } catch {
      if (i > 300) throw new Error(`sim: ${lock} is held for more than 30 s; remove it if no sim command runs`);
      spawnSync("sleep", ["0.1"]);
    }
  }
  try {
    return fn();
  } finally {
    fs.rmdirSync(lock);
  }
}

function killTree(pid: number): void {
  // The host runs in its own process group (spawned detached): its sshd, sessions and anything they left behind.
  // Zombies (already dead, not yet reaped by init) do not count as alive.
  const alive = () =>
    sh(`ps -o stat= -g ${pid} 2>/dev/null | grep -vc '^Z' || true`, { allowFail: true }).trim() !== "0";
  try {
    process.kill(-pid, "SIGTERM");
  } catch {
    return;
  }
  for (let i = 0; i < 50 && alive(); i++) spawnSync("sleep", ["0.1"]);
  try {
    if (alive()) process.kill(-pid, "SIGKILL");
  } catch {
    /* already gone */
  }
}

/**
 * Kills every process left in a host's network namespace. The process group is not enough: sshd puts each
 * connection in a session of its own (setsid), and a daemon started over SSH (the k3s double) does the same.
 * Deleting the namespace's name would leave them running in an unnamed namespace, unreachable.
 */
function killNetns(netns: string): void {
  sh(`ip netns pids ${netns} 2>/dev/null | xargs -r kill -9 2>/dev/null || true`, { allowFail: true });
}

/** Stops a VM host and forgets it (the Incus double's delete). */
export function stopVm(name: string): void {
  const h = loadState().hosts.find((x) => x.name === name && x.kind === "vm");
  if (!h) return;
  if (h.pid) killTree(h.pid);
  killNetns(h.netns);
  for (const l of h.links) sh(`ip link del ${l} 2>/dev/null || true`);
  sh(`ip netns del ${h.netns} 2>/dev/null || true`);
  fs.rmSync(path.join(SIM_DIR, "hosts", name), { recursive: true, force: true });
  withStateLock(() => saveState({ hosts: loadState().hosts.filter((x) => x.name !== name) }));
}

/** How long a rebooting sim host answers nothing (a Raspberry Pi takes 30-60 s; the sim keeps runs short). */
export const REBOOT_DOWN_S = 6;

/**
 * The reboot double's other half, run from the root namespaces: the host goes down (every process of it ends), stays
 * down REBOOT_DOWN_S seconds, then boots again with its overlays (its disk) as they were.
 */
export function rebootHost(name: string, downSeconds = REBOOT_DOWN_S): SimHost {
  stopHost(name);
  spawnSync("sleep", [String(downSeconds)]);
  const host = loadState().hosts.find((h) => h.name === name);
  if (!host) throw new Error(`sim: no host ${name}`);
  const dir = path.join(SIM_DIR, "hosts", name);
  fs.appendFileSync(path.join(dir, "reboots"), `${new Date().toISOString()}\n`);
  fs.rmSync(path.join(dir, "run"), { recursive: true, force: true });
  startBootScript(host, JSON.parse(fs.readFileSync(path.join(dir, "boot.json"), "utf8")) as BootOptions);
  // VMs may be launched meanwhile (the Incus double writes the host list too): only this host's entry changes.
  withStateLock(() => {
    const state = loadState();
    saveState({ hosts: state.hosts.map((h) => (h.name === name ? host : h)) });
  });
  return host;
}

/** How many times a host was rebooted by the reboot double. */
export function rebootsOf(name: string): number {
  const file = path.join(SIM_DIR, "hosts", name, "reboots");
  return fs.existsSync(file) ? fs.readFileSync(file, "utf8").split("\n").filter(Boolean).length : 0;
}

/** Stops one host (used by the "host down" fault) without forgetting it: nothing of it keeps running. */
export function stopHost(name: string): void {
  const h = loadState().hosts.find((x) => x.name === name);
  if (h?.pid) killTree(h.pid);
  if (h) killNetns(h.netns);
}

/** Removes every namespace, process, link and overlay the sim made, VMs included. */
export function simDown(): void {
  const state = loadState();
  for (const h of [...state.hosts].reverse()) {
    if (h.pid) killTree(h.pid);
    const zfsPid = path.join(SIM_DIR, "hosts", h.name, "zfs-fuse.pid");
    if (fs.existsSync(zfsPid)) {
      const pid = Number(fs.readFileSync(zfsPid, "utf8").trim());
      sh(
        `kill ${pid} 2>/dev/null; for i in $(seq 100); do kill -0 ${pid} 2>/dev/null || break; sleep 0.1; done; kill -9 ${pid} 2>/dev/null || true`,
        {
          allowFail: true,
        },
      );
    }
    killNetns(h.netns);
    for (const l of h.links) sh(`ip link del ${l} 2>/dev/null || true`);
    sh(`ip netns del ${h.netns} 2>/dev/null || true`);
  }
  if (fs.existsSync(ANCHOR)) {
    try {
      process.kill(Number(fs.readFileSync(ANCHOR, "utf8")), "SIGKILL");
    } catch {
      /* gone */
    }
    fs.rmSync(ANCHOR, { force: true });
  }
  // Stragglers from a run that died before saving its state.
  for (const ns of sh("ip netns list", { allowFail: true })
    .split("\n")
    .map((l) => l.split(" ")[0])) {
    if (!ns.startsWith("tbs-")) continue;
    killNetns(ns);
    sh(`ip netns del ${ns} 2>/dev/null || true`, { allowFail: true });
  }
  sh(
    `ip link del ${BRIDGE} 2>/dev/null || true
ip link del ${VM_BRIDGE} 2>/dev/null || true
ip route del ${VM_NET} 2>/dev/null || true
ip route del unreachable ${SIM_RANGE} 2>/dev/null || true`,
    { allowFail: true },
  );
  fs.rmSync(path.join(SIM_DIR, "hosts"), { recursive: true, force: true });
  fs.rmSync(path.join(SIM_DIR, "hostkeys"), { recursive: true, force: true });
  fs.rmSync(STATE, { force: true });
  // The engine's record of applied steps belongs to these hosts; it goes with them.
  fs.rmSync(path.join(SIM_DIR, "engine-state.json"), { force: true });
}

export interface HostStatus {
  name: string;
  kind: string;
  address: string;
  answersSsh: boolean;
}

/** Whether each host's sshd answers (VMs are checked from inside their own namespace). */
export async function simStatus(): Promise<HostStatus[]> {
  const hosts = loadState().hosts;
  return Promise.all(
    hosts.map(async (h) => ({
      name: h.name,
      kind: h.kind,
      address: h.address,
      answersSsh:
        h.kind === "machine"
          ? await new Promise<boolean>((resolve) => {
              const s = net.connect({ host: h.address, port: 22, timeout: 2000 });
              s.once("data", (d) => {
                s.destroy();
                resolve(d.toString().startsWith("SSH-"));
              });
              s.once("error", () => resolve(false));
              s.once("timeout", () => {
                s.destroy();
                resolve(false);
              });
            })
          : spawnSync("ip", ["netns", "exec", h.netns, "bash", "-c", `exec 3<>/dev/tcp/${h.address}/22`]).status === 0,
    })),
  );
}

/** Files under a host's overlays (relative paths), for checking what the provisioner left behind. */
export function overlayFiles(name: string): string[] {
  const upper = path.join(SIM_DIR, "hosts", name, "upper");
  if (!fs.existsSync(upper)) return [];
  return sh(`cd ${upper} && find . -mindepth 1 \\( -type f -o -type l \\) | sort`)
    .split("\n")
    .filter(Boolean)
    .map((f) => f.slice(1));
}
