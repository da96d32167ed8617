import { describe, expect, it } from "vitest";
import { covers, drift, mergePatches } from "./drift";

describe("covers", () => {
  it("ignores what the API adds, element by element in lists", () => {
    const declared = { containers: [{ name: "a", image: "x:1" }] };
    const live = {
      containers: [{ name: "a", image: "x:1", terminationMessagePath: "/dev/termination-log" }],
      dnsPolicy: "ClusterFirst",
    };
    expect(covers(declared, live)).toBe(true);
    expect(covers(declared, { containers: [{ name: "a", image: "x:2" }] })).toBe(false);
    expect(covers(declared, { containers: [...live.containers, { name: "b" }] })).toBe(false);
    expect(covers({ a: 1 }, {})).toBe(false);
  });
});

describe("drift", () => {
  it("names each differing field and patches only those back", () => {
    const declared = { metadata: { name: "n", labels: { a: "1" } }, spec: { replicas: 1, selector: { x: "y" } } };
    const live = {
      metadata: { name: "n", labels: { a: "2", "propagationpolicy.karmada.io/name": "p" }, resourceVersion: "7" },
      spec: { replicas: 3, selector: { x: "y" }, revisionHistoryLimit: 10 },
      status: {},
    };
    expect(drift(declared, live)).toEqual({
      paths: ["metadata.labels.a", "spec.replicas"],
      patch: { metadata: { labels: { a: "1" } }, spec: { replicas: 1 } },
    });
    expect(
      drift(declared, {
        ...live,
        metadata: { ...live.metadata, labels: { a: "1" } },
        spec: { ...live.spec, replicas: 1 },
      }),
    ).toEqual({
      paths: [],
      patch: {},
    });
  });
  it("replaces a differing list whole, and a missing field", () => {
    expect(drift({ spec: { names: ["edge"], mode: "Push" } }, { spec: { names: ["elsewhere"] } })).toEqual({
      paths: ["spec.names", "spec.mode"],
      patch: { spec: { names: ["edge"], mode: "Push" } },
    });
  });
  it("removes the keys an exact map does not declare (a stray RPC address), and only there", () => {
    const declared = { data: { VACCEL_PLUGINS: "libvaccel-torch.so" }, metadata: { labels: {} } };
    const live = {
      data: { VACCEL_PLUGINS: "libvaccel-torch.so", VACCEL_RPC_ADDRESS: "tcp://a:1" },
      metadata: { labels: { extra: "1" } },
    };
    expect(drift(declared, live, ["data"])).toEqual({
      paths: ["data.VACCEL_RPC_ADDRESS (not declared)"],
      patch: { data: { VACCEL_RPC_ADDRESS: null } },
    });
  });
  it("an exact map nested deeper (a strategy's rollingUpdate beside type Recreate)", () => {
    const r = drift(
      { spec: { strategy: { type: "Recreate" } } },
      { spec: { strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: "25%" } } } },
      ["spec.strategy"],
    );
    expect(r.patch).toEqual({ spec: { strategy: { type: "Recreate", rollingUpdate: null } } });
  });
});

describe("mergePatches", () => {
  it("merges maps deeply, the second winning", () => {
    expect(mergePatches({ spec: { a: 1, t: { x: 1 } } }, { spec: { t: { y: 2 } }, b: null })).toEqual({
      spec: { a: 1, t: { x: 1, y: 2 } },
      b: null,
    });
  });
});
