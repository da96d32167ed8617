import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { pinPrograms } from "../../test/harness/programs";
import { parse } from "yaml";
import { stepProgram } from "../remote/script";
import type { HostSpec, VmSpec } from "../spec";
import { addressFromLaunch, cloudInitNetworkConfig, cloudInitUserData, launchScript } from "./incus";

const dhcpVm = { name: "k3s-cp" } as HostSpec;
const inet = (address: string, scope = "global") => ({ family: "inet", address, scope });

/** `incus list k3s-cp --format json` once k3s runs in the VM: the agent's interfaces, keys sorted as Go writes a map. */
const launched = {
  instances: [
    {
      name: "k3s-cp",
      config: { "image.os": "Ubuntu", "volatile.eth0.hwaddr": "00:16:3E:5A:1B:2C" },
      state: {
        network: {
          cni0: { hwaddr: "6e:3c:9a:00:00:01", addresses: [inet("10.42.0.1")] },
          enp5s0: { hwaddr: "00:16:3e:5a:1b:2c", addresses: [inet("fe80::1", "link"), inet("10.10.10.57")] },
          "flannel.1": { hwaddr: "d2:6a:1f:00:00:01", addresses: [inet("10.42.0.0")] },
          lo: { hwaddr: "", addresses: [inet("127.0.0.1", "local")] },
        },
      },
    },
  ],
};

describe("addressFromLaunch", () => {
  it("takes the address of the NIC Incus gave the VM (by its MAC), not the pod network's cni0 that sorts first", () => {
    expect(addressFromLaunch(dhcpVm, launched)).toBe("10.10.10.57");
  });

  it("keeps a static address as the spec gives it", () => {
    expect(addressFromLaunch({ ...dhcpVm, address: "198.19.0.21" } as HostSpec, launched)).toBe("198.19.0.21");
  });

  it("names the MAC when the NIC has no address yet, and refuses an instance without one", () => {
    const noAddress = structuredClone(launched);
    noAddress.instances[0].state.network.enp5s0.addresses = [inet("fe80::1", "link")];
    expect(() => addressFromLaunch(dhcpVm, noAddress)).toThrow(
      "VM k3s-cp: its NIC (MAC 00:16:3e:5a:1b:2c) has no global IPv4 address on enp5s0; is the VM's network up?",
    );
    const noMac = structuredClone(launched);
    noMac.instances[0].config = { "image.os": "Ubuntu", "volatile.eth0.hwaddr": "" };
    delete (noMac.instances[0].config as Record<string, string>)["volatile.eth0.hwaddr"];
    expect(() => addressFromLaunch(dhcpVm, noMac)).toThrow(/Incus reports no NIC MAC \(volatile\.<nic>\.hwaddr\)/);
  });

  it("takes no address from cni0 or flannel.1 when no guest interface has the NIC's MAC", () => {
    const otherMac = structuredClone(launched);
    otherMac.instances[0].state.network.enp5s0.hwaddr = "00:16:3e:ff:ff:ff";
    expect(() => addressFromLaunch(dhcpVm, otherMac)).toThrow(
      "VM k3s-cp: its NIC (MAC 00:16:3e:5a:1b:2c) has no global IPv4 address; is the VM's network up?",
    );
  });

  it("reads the NIC of the instance by its name, not the first one listed", () => {
    const two = structuredClone(launched);
    const other = structuredClone(launched.instances[0]);
    other.name = "karmada-host";
    other.state.network.enp5s0.addresses = [inet("10.10.10.99")];
    two.instances.unshift(other);
    expect(addressFromLaunch(dhcpVm, two)).toBe("10.10.10.57");
  });
});

const vm: VmSpec = {
  image: "images:ubuntu/24.04/cloud",
  cpus: 2,
  memory: "2GiB",
  disk: "10GiB",
  storagePool: "default",
  prefixLength: 24,
} as VmSpec;
const staticVm = { ...vm, address: "198.19.0.21", prefixLength: 16, gateway: "198.19.0.1" } as VmSpec;
const userData = cloudInitUserData(
  "testbed",
  "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOqlqm4Je6lr3zF0YNA4KdlFhrcK/y7VBF873abPbSQs",
);

/** Every rendered launch program, by its snapshot's name. */
const rendered: Record<string, string> = {
  "launch-incus-dhcp": stepProgram("nuc/vm-k3s-cp", launchScript("k3s-cp", vm, "incus", userData)),
  "launch-incus-static": stepProgram("nuc/vm-k3s-cp", launchScript("k3s-cp", staticVm, "incus", userData)),
  "launch-lxd-dhcp": stepProgram("nuc/vm-k3s-cp", launchScript("k3s-cp", vm, "lxd", userData)),
  "launch-lxd-static": stepProgram("nuc/vm-k3s-cp", launchScript("k3s-cp", staticVm, "lxd", userData)),
};

pinPrograms(rendered);

describe("the VM launch step", () => {
  it("takes the CLI, the VM's sizes and cloud-init from the header; DHCP gives no network-config", () => {
    expect(rendered["launch-lxd-dhcp"]).toContain("readonly cli=lxc\n");
    expect(rendered["launch-incus-dhcp"]).toContain("readonly cli=incus\n");
    expect(rendered["launch-incus-dhcp"]).toContain("readonly network_config=''\n");
    expect(rendered["launch-incus-static"]).toContain("addresses: [198.19.0.21/16]");
    expect(rendered["launch-incus-static"]).toContain(`readonly user_data='#cloud-config\nusers:\n  - name: testbed\n`);
  });

  it("launches with the arguments the Incus CLI takes, and only the static VM with a network-config", () => {
    // Runs the launch program against a stand-in CLI that records its arguments and then reports a VM ready.
    const argsOf = (name: string) => {
      const cli = `${name}-cli`;
      const fake = [
        `${cli}() {`,
        '  case "$1" in',
        "    info) return 1 ;;",
        `    launch) printf '%s\\n' "$@" > "$LOG" ;;`,
        '    exec) [ "$4" != cat ] || echo "ssh-ed25519 AAAAhostkey root@vm" ;;',
        `    list) echo '[{"name":"k3s-cp"}]' ;;`,
        "  esac",
        "}",
      ].join("\n");
      const log = `/tmp/launch-args-${process.pid}-${name}`;
      const text = rendered[name].replace(/^readonly cli=.*$/m, `readonly cli=${cli}\n${fake}`);
      const r = spawnSync("bash", ["-s", "--", "create"], {
        input: text,
        encoding: "utf8",
        env: { ...process.env, LOG: log },
      });
      const args = spawnSync("cat", [log], { encoding: "utf8" }).stdout.trim().split("\n");
      spawnSync("rm", ["-f", log]);
      return { r, args };
    };
    const dhcp = argsOf("launch-incus-dhcp");
    expect(dhcp.r.stdout).toBe(
      'TESTBED output {"hostKey":"ssh-ed25519 AAAAhostkey","instances":[{"name":"k3s-cp"}]}\n' +
        "TESTBED changed VM k3s-cp (2 CPU, 2GiB, 10GiB on pool default)\n",
    );
    expect(dhcp.args).toEqual([
      "launch",
      "images:ubuntu/24.04/cloud",
      "k3s-cp",
      "--vm",
      "-c",
      "limits.cpu=2",
      "-c",
      "limits.memory=2GiB",
      "-d",
      "root,size=10GiB",
      "-s",
      "default",
      ...`--config=cloud-init.user-data=${userData.replace(/\n$/, "")}`.split("\n"),
    ]);
    const fixed = argsOf("launch-incus-static");
    expect(fixed.args.join("\n")).toContain(
      `--config=cloud-init.network-config=${cloudInitNetworkConfig(staticVm)!.replace(/\n$/, "")}`,
    );
  });

  it("gives cloud-init data, not bash: YAML with the user, the key and the static address", () => {
    expect(parse(userData)).toEqual({
      users: [
        {
          name: "testbed",
          shell: "/bin/bash",
          sudo: "ALL=(ALL) NOPASSWD:ALL",
          ssh_authorized_keys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOqlqm4Je6lr3zF0YNA4KdlFhrcK/y7VBF873abPbSQs"],
        },
      ],
      ssh_pwauth: false,
    });
    expect(parse(cloudInitNetworkConfig(staticVm)!)).toEqual({
      version: 2,
      ethernets: {
        primary: {
          match: { name: "en*" },
          addresses: ["198.19.0.21/16"],
          routes: [{ to: "default", via: "198.19.0.1" }],
        },
      },
    });
    expect(cloudInitNetworkConfig(vm)).toBeUndefined();
  });
});
