import { describe, expect, it } from "vitest";
import { CliError } from "../cli";
import { backendName, dataPatch, describeData, switchBackend } from "./backend";
import { clusterPath, pathOf } from "../lib/demo";
import type { KubeClient, KubeObject } from "../lib/kubeClient";
import {
  AGENT_NAME,
  BACKEND_HASH_ANNOTATION,
  type PipelineArgs,
  pipelineObjects,
} from "../../components/vaccel/objects";
import { backendConfigData, backendConfigHash } from "../../components/vaccel/backend";

const args: PipelineArgs = {
  member: "edge",
  clientNode: "pi",
  gpuNode: "jetson",
  agentImage: "a:1",
  appImage: "b:2",
  port: 8192,
  backend: "local",
};
const local = backendConfigData("local", AGENT_NAME, 8192);
const remote = backendConfigData("remote", AGENT_NAME, 8192);
const rolledOut = { observedGeneration: 1, replicas: 1, updatedReplicas: 1, availableReplicas: 1 };

/** An API holding the pipeline; PATCHes are recorded and applied as merge patches; the status never moves. */
const p = pipelineObjects(args);

function fakeApi(change: (objects: Map<string, KubeObject>) => void = () => undefined) {
  const objects = new Map<string, KubeObject>();
  const put = (o: KubeObject, status?: object) =>
    objects.set(pathOf(o as never), {
      ...structuredClone(o),
      metadata: { ...o.metadata, generation: 1, resourceVersion: "1" },
      status,
    });
  put(p.configMap);
  put(p.agent, rolledOut);
  put(p.app, rolledOut);
  objects.set(clusterPath("edge"), { status: { conditions: [{ type: "Ready", status: "True" }] } });
  change(objects);
  const patches: { path: string; body: KubeObject }[] = [];
  const client: KubeClient = {
    target: { server: "https://198.18.0.20:32644", hostPort: "198.18.0.20:32644", insecure: false },
    get: async (path) => structuredClone(objects.get(path)),
    patch: async (path, body) => {
      patches.push({ path, body: body as KubeObject });
      const o = objects.get(path) as KubeObject;
      const b = body as KubeObject;
      if (b.data)
        for (const [k, v] of Object.entries(b.data)) {
          if (v === null) delete o.data[k];
          else o.data[k] = v;
        }
      if (b.spec) {
        Object.assign(o.spec.template.metadata.annotations, b.spec.template.metadata.annotations);
        o.metadata.generation++;
      }
      return structuredClone(o);
    },
    put: async () => ({}),
    post: async () => ({}),
    send: async () => {
      throw new Error("backend sends no raw request");
    },
    close: () => undefined,
  };
  return { client, patches, objects };
}

describe("backend's pure parts", () => {
  it("describes data, names backends, and patches data to exactly the target", () => {
    expect(describeData(remote)).toBe(
      "VACCEL_LOG_LEVEL=3 VACCEL_PLUGINS=libvaccel-rpc.so VACCEL_RPC_ADDRESS=tcp://vaccel-rpc-agent:8192",
    );
    expect(describeData(undefined)).toBe("(no ConfigMap)");
    expect(backendName(local)).toBe("local");
    expect(backendName({ VACCEL_PLUGINS: "x" })).toBe("neither local nor remote (edited by hand)");
    expect(dataPatch(remote, local)).toEqual({ VACCEL_RPC_ADDRESS: null, ...local });
    expect(dataPatch(local, remote)).toEqual(remote);
  });
});

describe("switchBackend", () => {
  it("already on the target: says so, writes nothing, exit 0", async () => {
    const { client, patches } = fakeApi();
    const r = await switchBackend(client, args, "local");
    expect(r).toMatchObject({ exitCode: 0, changed: false });
    expect(r.lines).toEqual([
      "before: local: VACCEL_LOG_LEVEL=4 VACCEL_PLUGINS=libvaccel-torch.so",
      "already on local: nothing changed",
    ]);
    expect(patches).toEqual([]);
  });

  it("a switch left half-done (ConfigMap changed, pods not rolled) is finished: only the app is patched", async () => {
    const { client, patches } = fakeApi((o) => {
      (o.get(pathOf(p.configMap)) as KubeObject).data = { ...remote };
    });
    const r = await switchBackend(client, args, "remote", { timeoutS: 0.2 });
    expect(patches.map((x) => x.path)).toEqual([pathOf(p.app)]);
    expect(patches[0].body.spec.template.metadata.annotations[BACKEND_HASH_ANNOTATION]).toBe(backendConfigHash(remote));
    // The fake's status never moves past generation 1: the bounded wait ends in a verdict, exit 1, and says so.
    expect(r.exitCode).toBe(1);
    expect(r.lines.at(-1)).toBe(
      "the app did not finish rolling out within 0.2 s (last: generation 2 not yet observed on every member (at 1)); the backend is changed, the app may still run the old one",
    );
  });

  it("the agent not available: exit 2 before any write, naming the Deployment", async () => {
    const { client, patches } = fakeApi((o) => {
      (o.get(pathOf(p.agent)) as KubeObject).status = { observedGeneration: 1, replicas: 1, unavailableReplicas: 1 };
    });
    const err = await switchBackend(client, args, "remote").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).exitCode).toBe(2);
    expect((err as CliError).message).toBe(
      "backend remote: the GPU agent is not Ready, so nothing was changed:\n  Deployment vaccel-demo/vaccel-rpc-agent: 0 of 1 replicas available",
    );
    expect(patches).toEqual([]);
  });

  it("no pipeline in the API: exit 2 naming what is missing", async () => {
    const { client } = fakeApi((o) => o.delete(pathOf(p.configMap)));
    await expect(switchBackend(client, args, "remote")).rejects.toThrow(
      "the Karmada API at 198.18.0.20:32644 has no ConfigMap vaccel-demo/vaccel-backend: the pipeline is not deployed (pulumi up, or testbed reset); nothing was changed",
    );
  });
});
