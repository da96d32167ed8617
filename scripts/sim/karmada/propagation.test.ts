import { describe, expect, it } from "vitest";
import { pipelineObjects } from "../../../components/vaccel/objects";
import {
  memberNamespace,
  memberObject,
  namespaceShouldBeSynced,
  policySelects,
  resourceMatches,
  retainClusterFields,
  updateRefusal,
  workName,
} from "./propagation";

const p = pipelineObjects({
  member: "edge",
  clientNode: "pi",
  gpuNode: "jetson",
  agentImage: "registry.example/vaccel-rpc-agent:0.6.1",
  appImage: "registry.example/yolo-vaccel:0.1.0",
  port: 8192,
  backend: "local",
});

/** A template as the Karmada API returns it once claimed: what the server fills in, Karmada's claim, a status. */
const live = (o: object, extra: Record<string, unknown> = {}) => {
  const t = structuredClone(o) as any;
  t.metadata = {
    ...t.metadata,
    uid: "11111111-2222-3333-4444-555555555555",
    resourceVersion: "42",
    generation: 3,
    creationTimestamp: "2026-01-01T00:00:00Z",
    managedFields: [{ manager: "pulumi" }],
    labels: { ...t.metadata.labels, "propagationpolicy.karmada.io/permanent-id": "pp-id" },
    annotations: {
      ...t.metadata.annotations,
      "propagationpolicy.karmada.io/namespace": "vaccel-demo",
      "propagationpolicy.karmada.io/name": "vaccel-pipeline",
    },
  };
  return { ...t, ...extra };
};

describe("selection (pkg/util/selector.go:49-93)", () => {
  it("the pipeline's policy selects its four templates by name, in its own namespace only", () => {
    for (const o of [p.configMap, p.agent, p.service, p.app]) expect(policySelects(p.policy, o)).toBe(true);
    expect(policySelects(p.policy, { ...p.app, metadata: { ...p.app.metadata, name: "other" } })).toBe(false);
    expect(policySelects(p.policy, { ...p.app, metadata: { ...p.app.metadata, namespace: "elsewhere" } })).toBe(false);
    expect(policySelects(p.policy, { ...p.app, apiVersion: "apps/v1beta1" })).toBe(false);
  });
  it("a name ignores the label selector; a label selector alone decides; neither selects all of the kind", () => {
    const o = { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "a", namespace: "n", labels: { x: "1" } } };
    expect(
      resourceMatches(o, {
        apiVersion: "v1",
        kind: "ConfigMap",
        name: "a",
        labelSelector: { matchLabels: { x: "2" } },
      }),
    ).toBe(true);
    expect(
      resourceMatches(o, { apiVersion: "v1", kind: "ConfigMap", labelSelector: { matchLabels: { x: "2" } } }),
    ).toBe(false);
    expect(
      resourceMatches(o, {
        apiVersion: "v1",
        kind: "ConfigMap",
        labelSelector: { matchExpressions: [{ key: "x", operator: "In", values: ["1", "3"] }] },
      }),
    ).toBe(true);
    expect(resourceMatches(o, { apiVersion: "v1", kind: "ConfigMap" })).toBe(true);
    expect(resourceMatches(o, { apiVersion: "v1", kind: "ConfigMap", namespace: "m" })).toBe(false);
  });
  it("syncs every namespace but the reserved ones, default and kube-*", () => {
    const ns = (name: string, labels?: Record<string, string>) => ({ metadata: { name, labels } });
    expect(namespaceShouldBeSynced(ns("vaccel-demo"))).toBe(true);
    for (const n of ["default", "kube-system", "kube-public", "karmada-system", "karmada-cluster", "karmada-es-edge"])
      expect(namespaceShouldBeSynced(ns(n))).toBe(false);
    expect(namespaceShouldBeSynced(ns("x", { "namespace.karmada.io/skip-auto-propagation": "True" }))).toBe(false);
  });
});

describe("what is applied to the member (binding/common.go, ctrlutil/work.go, prune.go)", () => {
  const w = { cluster: "edge", bindingId: "rb-id", workId: "work-id", conflictResolution: "Abort" as const };

  it("names Works as names.GenerateWorkName does (values computed with Karmada's own Go code)", () => {
    expect(workName("Deployment", "object-detection", "vaccel-demo")).toBe("object-detection-668654b499");
    expect(workName("Namespace", "vaccel-demo", "")).toBe("vaccel-demo-67595fd74c");
  });

  it("a Deployment: the template's spec, Karmada's labels and annotations, nothing the server filled in", () => {
    const m = memberObject(live(p.app, { status: { replicas: 1 } }), w);
    expect(m.spec).toEqual(p.app.spec);
    expect(m.status).toBeUndefined();
    expect(m.metadata).toEqual({
      name: "object-detection",
      namespace: "vaccel-demo",
      labels: {
        ...p.app.metadata?.labels,
        "propagationpolicy.karmada.io/permanent-id": "pp-id",
        "resourcebinding.karmada.io/permanent-id": "rb-id",
        "karmada.io/managed": "true",
        "work.karmada.io/permanent-id": "work-id",
      },
      annotations: {
        "propagationpolicy.karmada.io/namespace": "vaccel-demo",
        "propagationpolicy.karmada.io/name": "vaccel-pipeline",
        "resourcetemplate.karmada.io/generation": "3",
        "resourcebinding.karmada.io/namespace": "vaccel-demo",
        "resourcebinding.karmada.io/name": "object-detection-deployment",
        "resourcetemplate.karmada.io/uid": "11111111-2222-3333-4444-555555555555",
        "work.karmada.io/name": "object-detection-668654b499",
        "work.karmada.io/namespace": "karmada-es-edge",
        "work.karmada.io/conflict-resolution": "abort",
        "resourcetemplate.karmada.io/managed-annotations":
          "propagationpolicy.karmada.io/name,propagationpolicy.karmada.io/namespace,resourcebinding.karmada.io/name," +
          "resourcebinding.karmada.io/namespace,resourcetemplate.karmada.io/generation," +
          "resourcetemplate.karmada.io/managed-annotations,resourcetemplate.karmada.io/managed-labels," +
          "resourcetemplate.karmada.io/uid,work.karmada.io/conflict-resolution,work.karmada.io/name," +
          "work.karmada.io/namespace",
        "resourcetemplate.karmada.io/managed-labels": Object.keys(m.metadata.labels).sort().join(","),
      },
    });
  });

  it("a Service loses the Karmada API's cluster IPs; the policy's Overwrite, or the template's own annotation, decide conflicts", () => {
    const svc = memberObject(
      live(p.service, { spec: { ...p.service.spec, clusterIP: "198.19.240.9", clusterIPs: ["198.19.240.9"] } }),
      {
        ...w,
        conflictResolution: "Overwrite",
      },
    );
    expect(svc.spec.clusterIP).toBeUndefined();
    expect(svc.spec.clusterIPs).toBeUndefined();
    expect(svc.metadata.annotations["work.karmada.io/conflict-resolution"]).toBe("overwrite");
    const own = live(p.configMap);
    own.metadata.annotations["work.karmada.io/conflict-resolution"] = "abort";
    expect(
      memberObject(own, { ...w, conflictResolution: "Overwrite" }).metadata.annotations[
        "work.karmada.io/conflict-resolution"
      ],
    ).toBe("abort");
  });

  it("a Namespace through the namespace sync controller: no binding, no conflict rule", () => {
    const ns = memberNamespace({ ...p.namespace, metadata: { ...p.namespace.metadata, uid: "ns-uid" } }, w);
    expect(ns.metadata.labels["karmada.io/managed"]).toBe("true");
    expect(ns.metadata.labels["resourcebinding.karmada.io/permanent-id"]).toBeUndefined();
    expect(ns.metadata.annotations["work.karmada.io/conflict-resolution"]).toBeUndefined();
    expect(ns.metadata.annotations["work.karmada.io/name"]).toBe("vaccel-demo-67595fd74c");
  });

  it("an object on the member that Karmada does not manage is not updated unless the rule is overwrite", () => {
    const desired = memberObject(live(p.configMap), w);
    const theirs = { metadata: { name: "vaccel-backend", labels: {} } };
    expect(updateRefusal(desired, theirs, "edge")).toBe(
      "resource(kind=ConfigMap, vaccel-demo/vaccel-backend) already exists in the cluster edge and the work.karmada.io/conflict-resolution strategy value is empty, Karmada will not manage this resource",
    );
    expect(
      updateRefusal(memberObject(live(p.configMap), { ...w, conflictResolution: "Overwrite" }), theirs, "edge"),
    ).toBeUndefined();
    expect(updateRefusal(desired, desired, "edge")).toBeUndefined();
  });

  it("an update keeps what the member set: resourceVersion, its own labels, the Service's cluster IP; not keys Karmada dropped", () => {
    const before = memberObject(live(p.service), w);
    const member = structuredClone(before);
    member.metadata.resourceVersion = "7";
    member.metadata.labels["member-side"] = "x";
    member.spec.clusterIP = "10.43.0.10";
    const next = live(p.service);
    delete next.metadata.annotations["propagationpolicy.karmada.io/name"];
    const d = retainClusterFields(memberObject(next, w), member);
    expect(d.metadata.resourceVersion).toBe("7");
    expect(d.metadata.labels["member-side"]).toBe("x");
    expect(d.spec.clusterIP).toBe("10.43.0.10");
    expect(d.metadata.annotations["propagationpolicy.karmada.io/name"]).toBeUndefined();
  });
});
