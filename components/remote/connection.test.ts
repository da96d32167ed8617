import { describe, expect, it } from "vitest";
import type { HostSpec } from "../spec";
import { DIAL_ERROR_LIMIT, PER_DIAL_TIMEOUT_S, hostConnection } from "./connection";

const host: HostSpec = {
  name: "nuc",
  kind: "machine",
  address: "198.18.0.10",
  port: 2222,
  user: "testbed",
  privateKey: "-----BEGIN OPENSSH PRIVATE KEY-----\nnot-a-real-key\n-----END OPENSSH PRIVATE KEY-----\n",
  hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOqlqm4Je6lr3zF0YNA4KdlFhrcK/y7VBF873abPbSQs",
  arch: "amd64",
  board: "generic",
  labels: {},
};

describe("hostConnection", () => {
  it("dials the spec's address and port as its user, pins its host key, and bounds retries as pulumi-command does", () => {
    expect(hostConnection(host)).toEqual({
      host: "198.18.0.10",
      port: 2222,
      user: "testbed",
      privateKey: host.privateKey,
      hostKey: host.hostKey,
      dialErrorLimit: 10,
      perDialTimeout: 15,
    });
    expect([DIAL_ERROR_LIMIT, PER_DIAL_TIMEOUT_S]).toEqual([10, 15]);
  });

  it("takes a VM's address and host key from its hypervisor, and reaches it through a jump host", () => {
    const jump = hostConnection(host);
    const vm: HostSpec = { ...host, name: "k3s-cp", kind: "vm", address: undefined, hostKey: undefined, port: 22 };
    expect(hostConnection(vm, { address: "198.19.0.21", hostKey: "ssh-ed25519 AAAAvm", proxy: jump })).toEqual({
      ...jump,
      host: "198.19.0.21",
      port: 22,
      hostKey: "ssh-ed25519 AAAAvm",
      proxy: jump,
    });
  });

  it("refuses a host without an address", () => {
    expect(() => hostConnection({ ...host, address: undefined })).toThrow(
      "host nuc: no address (a VM's address must come from its launch)",
    );
  });
});
