import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { utils } from "ssh2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type MockedResource, setupMocks } from "../../test/harness/mocks";
import { RemoteHost } from "../remote/host";
import { type HostSpec, loadSpec, readStackConfig } from "../spec";
import { VirtualMachine } from "./vm";

const root = path.resolve(__dirname, "../..");
const privateKey = utils.generateKeyPairSync("ed25519").private;
const spec = loadSpec(readStackConfig(path.join(root, "stacks/Pulumi.sim.yaml")), {
  baseDir: root,
  readFile: (file) =>
    file.endsWith(".pub")
      ? "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOqlqm4Je6lr3zF0YNA4KdlFhrcK/y7VBF873abPbSQs"
      : file.endsWith("sudo-password")
        ? "not-a-real-password\n"
        : privateKey,
});

/** What each VM's launch step printed, by the step's name. */
const launchOutput: Record<string, string> = {
  // `incus list --format json` of a VM whose guest has no interface with the NIC's MAC (only k3s' cni0).
  "nuc/vm-no-nic": `TESTBED output ${JSON.stringify({
    hostKey: "ssh-ed25519 AAAAhostkey",
    instances: [
      {
        name: "no-nic",
        config: { "volatile.eth0.hwaddr": "00:16:3e:5a:1b:2c" },
        state: {
          network: {
            cni0: {
              hwaddr: "6e:3c:9a:00:00:01",
              addresses: [{ family: "inet", address: "10.42.0.1", scope: "global" }],
            },
          },
        },
      },
    ],
  })}\nTESTBED changed VM no-nic\n`,
  // Output that is not JSON: no address can be read from it.
  "nuc/vm-garbled": "TESTBED output {not json\nTESTBED changed VM garbled\n",
};

/**
 * The steps that read a failed VM's address (its host's connection) fail with the same error, and nothing awaits
 * them in a test (the Pulumi engine would report them under their resources). They are collected here instead of
 * reaching vitest, which would try to print the resource graph a ResourceError holds.
 */
const dependents: unknown[] = [];
const collect = (e: unknown) => dependents.push(e);
let vitestHandlers: NodeJS.UnhandledRejectionListener[] = [];
beforeAll(() => {
  vitestHandlers = process.listeners("unhandledRejection");
  process.removeAllListeners("unhandledRejection");
  process.on("unhandledRejection", collect);
});
afterAll(async () => {
  await new Promise((r) => setTimeout(r, 200));
  process.off("unhandledRejection", collect);
  for (const h of vitestHandlers) process.on("unhandledRejection", h);
  expect(dependents.length).toBeGreaterThan(0);
  // Each is the launch's error, as Pulumi reports it for a step whose connection could not be computed.
  for (const e of dependents)
    expect((e as Error).message).toMatch(
      /^error serializing property "connection": .*(has no global IPv4 address|JSON)/,
    );
});

let created: MockedResource[];
beforeAll(() => {
  created = setupMocks((r) =>
    r.type === "command:remote:Command" ? { stdout: launchOutput[r.name] ?? "TESTBED unchanged ok\n", stderr: "" } : {},
  );
});

/** The error an Output's computation ended with (the mock runtime resolves everything). */
function failureOf(o: pulumi.Output<unknown>): Promise<unknown> {
  return (o as unknown as { promise(): Promise<unknown> }).promise().then(
    () => new Error("the output resolved"),
    (e: unknown) => e,
  );
}

const dhcpVm = (name: string): HostSpec => ({ ...spec.hosts["k3s-cp"], name, address: undefined });

describe("VirtualMachine", () => {
  const hypervisor = () => new RemoteHost("nuc", { host: spec.hosts.nuc });

  it("shows a launch whose NIC has no address as the launch step's error, message unchanged", async () => {
    const vm = new VirtualMachine("no-nic", { host: dhcpVm("no-nic"), hypervisor: hypervisor() });
    const err = await failureOf(vm.address);
    // Booleans: a failed comparison of resources would print the whole resource graph.
    expect(pulumi.ResourceError.isInstance(err)).toBe(true);
    expect((err as pulumi.ResourceError).resource === vm.launch).toBe(true);
    expect((err as Error).message).toBe(
      "VM no-nic: its NIC (MAC 00:16:3e:5a:1b:2c) has no global IPv4 address; is the VM's network up?",
    );
    expect(created.some((r) => r.name === "nuc/vm-no-nic")).toBe(true);
  });

  it("shows a launch output that does not parse as the launch step's error", async () => {
    const vm = new VirtualMachine("garbled", { host: dhcpVm("garbled"), hypervisor: hypervisor() });
    const err = await failureOf(vm.hostKey);
    // Booleans: a failed comparison of resources would print the whole resource graph.
    expect(pulumi.ResourceError.isInstance(err)).toBe(true);
    expect((err as pulumi.ResourceError).resource === vm.launch).toBe(true);
    expect((err as Error).message).toMatch(/JSON/);
  });
});
