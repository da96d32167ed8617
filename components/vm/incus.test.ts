import { describe, expect, it } from "vitest";
import type { HostSpec } from "../spec";
import { addressFromLaunch } from "./incus";

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
});
