/**
 * The vAccel backend the detection app uses, as environment variables in a ConfigMap: the switch the MLSysOps
 * policy makes ("transparently switch the vAccel backend to point at the Jetson", README). Names from vAccel itself:
 * VACCEL_PLUGINS (nubificus/vaccel src/config.h; VACCEL_BACKENDS is its deprecated alias), VACCEL_RPC_ADDRESS
 * (nubificus/vaccel-rust vaccel-rpc-client/src/client.rs, default tcp://127.0.0.1:65500), VACCEL_LOG_LEVEL.
 */
import { createHash } from "node:crypto";

export type Backend = "local" | "remote";

/** The RPC transport plugin: the client forwards every call to vaccel-rpc-agent (vaccel-docs rpc-plugin.md). */
export const RPC_PLUGIN = "libvaccel-rpc.so";
/** The local CPU plugin of the yolo-torch demo ("local-CPU": VACCEL_PLUGINS=<path>/libvaccel-torch.so). */
export const LOCAL_PLUGIN = "libvaccel-torch.so";
/** Log levels of the yolo-torch demo (demo.py): 3 for the remotes, 4 for local. */
export const LOG_LEVEL: Record<Backend, string> = { local: "4", remote: "3" };

/** The RPC address of the agent's Service, as the app's pods resolve it (same namespace). */
export function rpcAddress(service: string, port: number): string {
  return `tcp://${service}:${port}`;
}

/**
 * The backend ConfigMap's data. Local drops VACCEL_RPC_ADDRESS, so a stale address cannot linger unnoticed: the
 * app's environment says exactly which backend it runs.
 */
export function backendConfigData(backend: Backend, agentService: string, port: number): Record<string, string> {
  switch (backend) {
    case "local":
      return { VACCEL_PLUGINS: LOCAL_PLUGIN, VACCEL_LOG_LEVEL: LOG_LEVEL.local };
    case "remote":
      return {
        VACCEL_PLUGINS: RPC_PLUGIN,
        VACCEL_RPC_ADDRESS: rpcAddress(agentService, port),
        VACCEL_LOG_LEVEL: LOG_LEVEL.remote,
      };
    default:
      throw new Error(`vaccel.backend: "${String(backend)}" is not local or remote`);
  }
}

/** Which backend a ConfigMap's data selects, or undefined when it is neither (edited by hand). */
export function backendOf(data: Record<string, string> | undefined): Backend | undefined {
  if (data?.VACCEL_PLUGINS === RPC_PLUGIN && (data.VACCEL_RPC_ADDRESS ?? "") !== "") return "remote";
  if (data?.VACCEL_PLUGINS === LOCAL_PLUGIN && data.VACCEL_RPC_ADDRESS === undefined) return "local";
  return undefined;
}

/**
 * A short hash of the backend data, put on the app's pod template: environment variables from a ConfigMap are read
 * only when a container starts, so a changed backend must roll the app's pods (and only the app's).
 */
export function backendConfigHash(data: Record<string, string>): string {
  const canonical = Object.keys(data)
    .sort()
    .map((k) => `${k}=${data[k]}`)
    .join("\n");
  return createHash("sha256").update(canonical).digest("hex").slice(0, 16);
}
