import { describe, expect, it } from "vitest";
import { pipelineObjects } from "../../../components/vaccel/objects";
import { aggregateDeploymentStatus } from "../../lib/karmadaDouble";
import { reflectDeploymentStatus } from "../karmada/status";
import {
  type ClusterView,
  type Condition,
  type DeploymentModel,
  DEFAULT_TOLERATION_S,
  adopt,
  emptyModel,
  fenceposts,
  maxUnavailable,
  podTemplateHash,
  safeEncode,
  setCondition,
  step,
} from "./deploymentStatus";

const args = {
  member: "edge",
  clientNode: "pi",
  gpuNode: "jetson",
  agentImage: "registry.example/vaccel-rpc-agent:0.6.1",
  appImage: "registry.example/yolo-vaccel@sha256:" + "a".repeat(64),
  port: 8192,
  backend: "local" as const,
};

const T0 = Date.parse("2026-01-01T00:00:00Z");

function cluster(over: Partial<Record<"pi" | "jetson", Partial<ClusterView["nodes"][0]>>> = {}): ClusterView {
  return {
    nodes: [
      {
        name: "pi",
        labels: { "kubernetes.io/hostname": "pi" },
        ready: true,
        unschedulable: false,
        runtimes: [],
        ...over.pi,
      },
      {
        name: "jetson",
        labels: { "kubernetes.io/hostname": "jetson" },
        ready: true,
        unschedulable: false,
        runtimes: ["nvidia"],
        ...over.jetson,
      },
    ],
    runtimeClasses: { nvidia: "nvidia" },
  };
}

/** A Deployment as the API stores it: generation 1, the defaults the API fills in. */
function stored(obj: any, generation = 1): any {
  return {
    ...obj,
    metadata: { ...obj.metadata, generation, uid: "u1" },
    spec: { progressDeadlineSeconds: 600, revisionHistoryLimit: 10, ...obj.spec },
  };
}

const summary = (s: any) =>
  `g${s.observedGeneration} r${s.replicas ?? 0} u${s.updatedReplicas ?? 0} rd${s.readyReplicas ?? 0} a${s.availableReplicas ?? 0} un${s.unavailableReplicas ?? 0}`;

/** Runs `n` steps a tick apart, writing each status back as the API would; returns each step's summary. */
function drive(d: any, m: DeploymentModel, c: ClusterView, n: number, start = T0, tickMs = 500) {
  const out: string[] = [];
  const events: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = step(d, m, c, start + i * tickMs);
    d.status = r.status;
    events.push(...r.events);
    out.push(summary(r.status));
  }
  return { out, events };
}

const cond = (d: any, type: string): Condition | undefined => d.status.conditions?.find((c: any) => c.type === type);

describe("the deployment controller chain", () => {
  it("creates a Deployment's ReplicaSet, pod, binding, start and readiness one step at a time", () => {
    const d = stored(pipelineObjects(args).app);
    const m = emptyModel();
    const { out, events } = drive(d, m, cluster(), 6);
    expect(out).toEqual([
      "g1 r0 u0 rd0 a0 un1", // ReplicaSet created at 1, no pod yet
      "g1 r1 u1 rd0 a0 un1", // pod created
      "g1 r1 u1 rd0 a0 un1", // scheduled on pi
      "g1 r1 u1 rd0 a0 un1", // running
      "g1 r1 u1 rd1 a1 un0", // ready
      "g1 r1 u1 rd1 a1 un0",
    ]);
    expect(events.find((e) => e.includes("scheduled"))).toMatch(/^pod object-detection-\w+-\w+ scheduled on pi$/);
    expect(cond(d, "Available")).toMatchObject({ status: "True", reason: "MinimumReplicasAvailable" });
    expect(cond(d, "Progressing")).toMatchObject({
      status: "True",
      reason: "NewReplicaSetAvailable",
      message: expect.stringMatching(/^ReplicaSet "object-detection-\w+" has successfully progressed\.$/),
    });
  });

  it("rolls a Recreate Deployment out: old pods gone first, then the new ones, then ready", () => {
    const d = stored(pipelineObjects(args).app);
    const m = emptyModel();
    drive(d, m, cluster(), 6);
    const remote = pipelineObjects({ ...args, backend: "remote" }).app;
    d.spec = { ...d.spec, template: remote.spec!.template };
    d.metadata.generation = 2;
    const { out } = drive(d, m, cluster(), 8, T0 + 10_000);
    expect(out).toEqual([
      "g2 r1 u0 rd1 a1 un0", // old ReplicaSet scaled to 0; its status still counts its pod
      "g2 r0 u0 rd0 a0 un0", // the pod terminating: not counted, and the controller waits for it
      "g2 r0 u0 rd0 a0 un1", // it ended: the new ReplicaSet created at 1
      "g2 r1 u1 rd0 a0 un1", // new pod
      "g2 r1 u1 rd0 a0 un1", // scheduled
      "g2 r1 u1 rd0 a0 un1", // running
      "g2 r1 u1 rd1 a1 un0", // ready
      "g2 r1 u1 rd1 a1 un0",
    ]);
    expect(cond(d, "Progressing")?.reason).toBe("NewReplicaSetAvailable");
    expect(m.replicaSets.map((rs) => rs.replicas)).toEqual([0, 1]);
  });

  it("waits, in a Recreate rollout, for an old pod stuck terminating on a node that is not Ready", () => {
    const d = stored(pipelineObjects(args).app);
    const m = emptyModel();
    drive(d, m, cluster(), 6);
    d.spec = { ...d.spec, template: pipelineObjects({ ...args, backend: "remote" }).app.spec!.template };
    d.metadata.generation = 2;
    const down = cluster({ pi: { ready: false, notReadySince: T0 + 9_000 } });
    const { out } = drive(d, m, down, 6, T0 + 10_000);
    expect(out.at(-1)).toBe("g2 r0 u0 rd0 a0 un0");
    expect(out.every((l) => l.includes(" u0 "))).toBe(true);
    expect(m.replicaSets.length).toBe(1); // no new ReplicaSet while the old pod may still run
  });

  it("surges a RollingUpdate Deployment of one replica: the new pod is ready before the old goes", () => {
    const d = stored(pipelineObjects(args).agent);
    const m = emptyModel();
    drive(d, m, cluster(), 6);
    expect(fenceposts(d)).toEqual({ surge: 1, unavailable: 0 });
    d.spec = {
      ...d.spec,
      template: { ...d.spec.template, metadata: { labels: d.spec.template.metadata.labels, annotations: { x: "1" } } },
    };
    d.metadata.generation = 2;
    const { out } = drive(d, m, cluster(), 8, T0 + 10_000);
    expect(out).toContain("g2 r2 u1 rd1 a1 un1"); // both pods, the new one not yet ready
    expect(out).toContain("g2 r2 u1 rd2 a2 un0"); // new one ready, old one not yet scaled down
    expect(out.at(-1)).toBe("g2 r1 u1 rd1 a1 un0");
    expect(out.every((l) => !l.includes("a0"))).toBe(true); // maxUnavailable 0: never without an available pod
  });

  it("leaves a Deployment whose pods fit nowhere unavailable, then times out at its progress deadline", () => {
    const d = stored(pipelineObjects(args).agent);
    d.spec.progressDeadlineSeconds = 5;
    const m = emptyModel();
    const down = cluster({ jetson: { ready: false, notReadySince: T0 - 1000 } });
    const { out, events } = drive(d, m, down, 4);
    expect(out.at(-1)).toBe("g1 r1 u1 rd0 a0 un1");
    expect(events.some((e) => /unschedulable/.test(e))).toBe(true);
    expect(cond(d, "Progressing")?.reason).toBe("ReplicaSetUpdated");
    drive(d, m, down, 1, T0 + 10_000);
    expect(cond(d, "Progressing")).toMatchObject({ status: "False", reason: "ProgressDeadlineExceeded" });
    expect(cond(d, "Available")).toMatchObject({ status: "False", reason: "MinimumReplicasUnavailable" });
  });

  it("keeps a pod whose runtime handler the node's containerd lacks Pending", () => {
    const d = stored(pipelineObjects({ ...args, gpuNode: "pi" }).agent);
    const m = emptyModel();
    const { out, events } = drive(d, m, cluster(), 8);
    expect(out.at(-1)).toBe("g1 r1 u1 rd0 a0 un1");
    expect(events.filter((e) => e.includes('no runtime for "nvidia" is configured')).length).toBe(1);
  });

  it("reports a RuntimeClass that does not exist as ReplicaFailure FailedCreate, with no pod", () => {
    const d = stored(pipelineObjects(args).agent);
    const m = emptyModel();
    drive(d, m, { ...cluster(), runtimeClasses: {} }, 3);
    expect(d.status.replicas).toBeUndefined();
    expect(cond(d, "ReplicaFailure")).toMatchObject({
      status: "True",
      reason: "FailedCreate",
      message: expect.stringContaining('RuntimeClass "nvidia" not found'),
    });
  });

  it("makes the pods of a node that stops being Ready unready, and evicts them after the toleration", () => {
    const d = stored(pipelineObjects(args).agent);
    const m = emptyModel();
    drive(d, m, cluster(), 6);
    const since = T0 + 5_000;
    const down = cluster({ jetson: { ready: false, notReadySince: since } });
    expect(drive(d, m, down, 1, since + 500).out).toEqual(["g1 r1 u1 rd0 a0 un1"]);
    expect(cond(d, "Available")?.status).toBe("False");
    const { events } = drive(d, m, down, 2, since + DEFAULT_TOLERATION_S * 1000);
    expect(events.some((e) => e.includes("evicted"))).toBe(true);
    // The evicted pod stays Terminating (its kubelet does not answer); its replacement waits for a node.
    expect(m.pods.filter((p) => p.terminating).length).toBe(1);
    expect(m.pods.filter((p) => !p.terminating && p.node === undefined).length).toBe(1);
  });

  it("adopts a Deployment whose status is complete for its template (the process restarted)", () => {
    const d = stored(pipelineObjects(args).app);
    const m = emptyModel();
    drive(d, m, cluster(), 6);
    const again = adopt(d, cluster(), T0 + 20_000);
    expect(drive(d, again, cluster(), 2, T0 + 20_000).out).toEqual(["g1 r1 u1 rd1 a1 un0", "g1 r1 u1 rd1 a1 un0"]);
  });
});

describe("the deployment controller's helpers", () => {
  it("resolves fenceposts as ResolveFenceposts does", () => {
    const d = (replicas: number, rollingUpdate?: object, type = "RollingUpdate") => ({
      spec: { replicas, strategy: { type, rollingUpdate } },
    });
    expect(fenceposts(d(4))).toEqual({ surge: 1, unavailable: 1 });
    expect(fenceposts(d(10, { maxSurge: "30%", maxUnavailable: "30%" }))).toEqual({ surge: 3, unavailable: 3 });
    expect(fenceposts(d(1, { maxSurge: 0, maxUnavailable: 0 }))).toEqual({ surge: 0, unavailable: 1 });
    expect(maxUnavailable(d(3, { maxUnavailable: 5 }))).toBe(3);
    expect(maxUnavailable(d(3, undefined, "Recreate"))).toBe(0);
  });

  it("keeps a condition's lastTransitionTime while its status holds, and rewrites nothing for the same reason", () => {
    const c = (status: Condition["status"], reason: string, at: string): Condition => ({
      type: "Progressing",
      status,
      reason,
      message: "",
      lastUpdateTime: at,
      lastTransitionTime: at,
    });
    const first = [c("True", "NewReplicaSetCreated", "t1")];
    expect(setCondition(first, c("True", "NewReplicaSetCreated", "t2"))).toBe(first);
    expect(setCondition(first, c("True", "ReplicaSetUpdated", "t2"))[0]).toMatchObject({
      reason: "ReplicaSetUpdated",
      lastUpdateTime: "t2",
      lastTransitionTime: "t1",
    });
    expect(setCondition(first, c("False", "ProgressDeadlineExceeded", "t3"))[0].lastTransitionTime).toBe("t3");
  });

  it("hashes the pod template: the same template the same hash, a changed one another, in SafeEncodeString's alphabet", () => {
    const a = pipelineObjects(args).app.spec!.template;
    const b = pipelineObjects({ ...args, backend: "remote" }).app.spec!.template;
    expect(podTemplateHash(a)).toBe(podTemplateHash(structuredClone(a)));
    expect(podTemplateHash(a)).not.toBe(podTemplateHash(b));
    expect(podTemplateHash(a)).not.toBe(podTemplateHash(a, 1));
    expect(podTemplateHash(a)).toMatch(/^[bcdfghjklmnpqrstvwxz2456789]+$/);
    expect(safeEncode("0123")).toBe("4567");
  });
});

describe("what Karmada grabs from a member's Deployment (the Karmada double's reflectDeploymentStatus)", () => {
  it("is the counts, the generations and the template generation Karmada annotated, aggregated as Karmada does", () => {
    const d = stored(pipelineObjects(args).app);
    d.metadata.annotations = { "resourcetemplate.karmada.io/generation": "3" };
    expect(reflectDeploymentStatus(d)).toBeUndefined();
    drive(d, emptyModel(), cluster(), 6);
    const m = reflectDeploymentStatus(d)!;
    expect(m).toEqual({
      generation: 1,
      resourceTemplateGeneration: 3,
      observedGeneration: 1,
      replicas: 1,
      updatedReplicas: 1,
      readyReplicas: 1,
      availableReplicas: 1,
      unavailableReplicas: 0,
    });
    const template = { metadata: { generation: 3 } };
    expect(aggregateDeploymentStatus(template, [{ clusterName: "edge", status: m }])).toEqual({
      observedGeneration: 3,
      replicas: 1,
      readyReplicas: 1,
      updatedReplicas: 1,
      availableReplicas: 1,
    });
  });
});
