/**
 * A Karmada cluster with an agent, in the real program (index.ts), offline under Pulumi's mock runtime: Karmada's
 * etcd still writes only where the disk gate measured. The gate on the cluster's server measures karmada.etcdPath,
 * nothing else does, and the Release pins etcd to that server (karmada/validate.ts allows agents on that ground).
 */
import * as path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { readStackConfig } from "../components/spec";
import { DEFAULT_KARMADA_ETCD_PATH } from "../components/spec/schema";
import { type RecordedResource, runProgram } from "../scripts/lib/programRunner";

const root = path.resolve(__dirname, "..");

let resources: RecordedResource[];
beforeAll(async () => {
  const config = readStackConfig(path.join(root, "stacks/Pulumi.sim.yaml"));
  const vms = config.vms as Record<string, Record<string, unknown>>;
  vms["karmada-agent"] = { ...vms["karmada-host"], address: "198.19.0.22" };
  (config.clusters as Record<string, Record<string, unknown>>).mgmt.agents = ["karmada-agent"];
  ({ resources } = await runProgram({
    stack: "sim",
    config,
    projectDir: root,
    preview: true,
    // The server VM's launch as the Incus double reports it (a static address: no instance needs reading), so its
    // address, and with it the Release's values, are known in the preview.
    newResource: async (r) => ({
      state:
        r.name === "nuc/vm-karmada-host"
          ? {
              ...r.rawInputs,
              stdout: `TESTBED output ${JSON.stringify({ hostKey: "ssh-ed25519 AAAAhostkey", instances: [] })}\nTESTBED changed VM karmada-host\n`,
            }
          : {},
    }),
  }));
});

/** The paths a disk-gate step measures, read from its program's header. */
function gatePaths(r: RecordedResource): string[] {
  const line = String(r.inputs.stdin ?? "")
    .split("\n")
    .find((l) => l.startsWith("readonly -a gate_paths=("));
  return line === undefined ? [] : line.slice("readonly -a gate_paths=(".length, -1).split(" ");
}

describe("Karmada's cluster with an agent", () => {
  it("is accepted, and the agent joins it", () => {
    expect(resources.some((r) => r.name === "karmada-agent/k3s-agent")).toBe(true);
    expect(resources.some((r) => r.name === "karmada-chart")).toBe(true);
  });

  it("the gate on the server measures karmada.etcdPath, and no other step does", () => {
    const measuring = resources.filter((r) => gatePaths(r).includes(DEFAULT_KARMADA_ETCD_PATH)).map((r) => r.name);
    expect(measuring).toEqual(["karmada-host/disk-gate-k3s"]);
  });

  it("the Release pins etcd to the server's node", () => {
    const values = resources.find((r) => r.name === "karmada-chart")?.inputs.values as Record<string, any>;
    expect(values?.etcd).toEqual({
      mode: "internal",
      internal: { storageType: "hostPath", nodeSelector: { "kubernetes.io/hostname": "karmada-host" } },
    });
  });
});
