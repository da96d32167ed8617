import type { HostSpec } from "../spec";

/*
 * How a host of the spec is dialled, in one place for the Pulumi program (pulumi-command's connection) and the
 * operator CLI (session.ts). Pure: the CLI reaches hosts without loading Pulumi's SDK.
 */

/** Dials before giving up: pulumi-command's default (provider/pkg/provider/remote/connection.go). */
export const DIAL_ERROR_LIMIT = 10;
/** Seconds per dial: pulumi-command's default (same file). */
export const PER_DIAL_TIMEOUT_S = 15;

/** What a connection is built from: a host of the spec. */
export type ConnectionHost = Pick<HostSpec, "name" | "address" | "port" | "user" | "privateKey" | "hostKey">;

/**
 * The SSH connection to a host: its login, its pinned host key, bounded dial retries and at most one jump host
 * (`proxy`, one hop, as pulumi-command supports). `address` and `hostKey` override the spec's (a VM's come from its
 * hypervisor); `V` lets the program pass them as Pulumi inputs, and the caller wraps the private key as it must
 * (the program as a secret).
 */
export function hostConnection<V = string, P = never>(
  host: ConnectionHost,
  opts: { address?: V; hostKey?: V; proxy?: P } = {},
): {
  host: NonNullable<V> | string;
  port: number;
  user: string;
  privateKey: string;
  hostKey?: NonNullable<V> | string;
  dialErrorLimit: number;
  perDialTimeout: number;
  proxy?: P;
} {
  const address = opts.address ?? host.address;
  if (address === undefined)
    throw new Error(`host ${host.name}: no address (a VM's address must come from its launch)`);
  return {
    host: address,
    port: host.port,
    user: host.user,
    privateKey: host.privateKey,
    hostKey: opts.hostKey ?? host.hostKey,
    dialErrorLimit: DIAL_ERROR_LIMIT,
    perDialTimeout: PER_DIAL_TIMEOUT_S,
    ...(opts.proxy !== undefined ? { proxy: opts.proxy } : {}),
  };
}
