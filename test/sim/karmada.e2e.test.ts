/**
 * The whole sim stack, Karmada and vAccel included, as the README walks a new user through it: `sim up`, then
 * `backend remote`, `reset` (both modes), `backend remote` with the GPU agent down, then destroy, and an up on the
 * same hosts after it. Everything below the Release is real (kube-apiservers with Debian's etcd, the program's
 * objects as pulumi-kubernetes sends them); the Release, Karmada's controllers and the clusters' controllers are the
 * sim's doubles (scripts/sim/karmada, scripts/sim/controllers).
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SECRET_MASK } from "../../scripts/lib/programRunner";
import { SIM_OUTPUTS_FILE, destroy, up } from "../../scripts/sim/engine";
import { loadState, overlayFiles, rebootHost, simDown, simUp, stopHost } from "../../scripts/sim/hosts";
import { type KubeClient, type KubeObject, kubeClient, kubeTarget } from "../../scripts/lib/kubeClient";
import { simAvailable } from "./helpers";

const REPO = path.resolve(__dirname, "../..");
const cli = (...args: string[]) =>
  spawnSync("node", [path.join(REPO, "scripts/testbed.js"), ...args], { encoding: "utf8", timeout: 240_000 });

const NS = "vaccel-demo";
const AGENT = `/apis/apps/v1/namespaces/${NS}/deployments/vaccel-rpc-agent`;
const BACKEND = `/api/v1/namespaces/${NS}/configmaps/vaccel-backend`;
const CLUSTER = "/apis/cluster.karmada.io/v1alpha1/clusters/edge";

/** A client of a kubeconfig the last up saved among its outputs. */
function clientOf(output: string, member?: string): KubeClient {
  const saved = JSON.parse(fs.readFileSync(SIM_OUTPUTS_FILE, "utf8")) as Record<string, unknown>;
  const value = member === undefined ? saved[output] : (saved[output] as Record<string, string>)[member];
  return kubeClient(kubeTarget(String(value), output));
}

async function until<T>(what: string, read: () => Promise<T>, ok: (v: T) => boolean, ms = 90_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await read();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms / 1000} s; last ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

const ready = (o?: KubeObject) =>
  ((o?.status?.conditions ?? []) as { type: string; status: string }[]).some(
    (c) => c.type === "Ready" && c.status === "True",
  );

describe.runIf(simAvailable())("Karmada and vAccel on the simulated testbed", () => {
  let karmada: KubeClient;
  beforeAll(() => {
    simDown();
    simUp();
  }, 120_000);
  afterAll(() => {
    karmada?.close();
    simDown();
  }, 180_000);

  it(
    "sim up installs Karmada, joins the edge cluster and runs the pipeline on its nodes",
    { timeout: 600_000 },
    async () => {
      const r = await up();
      const names = r.steps.map((s) => s.name);
      for (const n of ["karmada-chart", "karmada-member-edge-cluster", "vaccel-policy", "vaccel-agent", "vaccel-app"])
        expect(names).toContain(n);
      expect(r.outputs.karmadaKubeconfig).toBe(SECRET_MASK);
      expect(r.outputs.mlsysopsKubeconfig).toBe(SECRET_MASK);
      // The Release before the join's Karmada side, the join before the pipeline.
      const at = (n: string) => r.steps.find((s) => s.name === n)!;
      expect(at("karmada-member-edge-cluster").startMs).toBeGreaterThanOrEqual(at("karmada-chart").endMs);
      expect(at("vaccel-namespace").startMs).toBeGreaterThanOrEqual(at("karmada-member-edge-cluster").endMs);

      karmada = clientOf("karmadaKubeconfig");
      expect(karmada.target.server).toBe("https://198.19.0.20:32644");
      expect(ready(await karmada.get(CLUSTER))).toBe(true);
      // Propagated: the member runs both Deployments, each on its node, with Karmada's marks.
      const edge = clientOf("kubeconfigs", "edge");
      try {
        const pods = (await edge.get(`/api/v1/namespaces/${NS}/pods`))!.items as KubeObject[];
        const nodeOf = (app: string) =>
          pods.filter((p) => p.metadata.labels?.["app.kubernetes.io/name"] === app).map((p) => p.spec.nodeName);
        expect(nodeOf("vaccel-rpc-agent")).toEqual(["jetson"]);
        expect(nodeOf("object-detection")).toEqual(["pi"]);
        const member = (await edge.get(`/apis/apps/v1/namespaces/${NS}/deployments/object-detection`))!;
        expect(member.metadata.labels).toHaveProperty(["karmada.io/managed"], "true");
      } finally {
        edge.close();
      }
      // A second up sends nothing.
      const again = await up();
      expect(again.steps.filter((s) => s.op !== "same").map((s) => s.name)).toEqual([]);
    },
  );

  it("backend remote switches the app, never the agent, and is idempotent", { timeout: 240_000 }, async () => {
    const agentGeneration = (await karmada.get(AGENT))!.metadata.generation;
    const r = cli("backend", "remote", "--stack", "sim");
    expect([r.status, r.stderr]).toEqual([0, ""]);
    expect(r.stdout).toMatch(/^before: local: /m);
    expect(r.stdout).toMatch(/^after: remote: .*VACCEL_PLUGINS=libvaccel-rpc\.so/m);
    expect(r.stdout).toMatch(/^backend remote in \d+\.\d s$/m);
    expect((await karmada.get(BACKEND))!.data.VACCEL_RPC_ADDRESS).toBe("tcp://vaccel-rpc-agent:8192");
    expect((await karmada.get(AGENT))!.metadata.generation).toBe(agentGeneration);
    const again = cli("backend", "remote", "--stack", "sim");
    expect(again.status).toBe(0);
    expect(again.stdout).toContain("already on remote: nothing changed");
  });

  it(
    "reset --dry-run lists the changes and makes none; reset makes them and ends ready for the demo",
    {
      timeout: 240_000,
    },
    async () => {
      const before = (await karmada.get(BACKEND))!.metadata.resourceVersion;
      const dry = cli("reset", "--stack", "sim", "--dry-run");
      expect(dry.stdout).toContain("would change (dry run: nothing is changed):");
      expect(dry.stdout).toContain("ConfigMap vaccel-demo/vaccel-backend");
      expect((await karmada.get(BACKEND))!.metadata.resourceVersion).toBe(before);
      const r = cli("reset", "--stack", "sim");
      expect(r.stdout).toContain("changes:");
      expect(r.stdout).toContain("GPU agent: Ready on edge");
      // Every etcd was read (the k3s servers' and Karmada's, over the chart's certificate): none is "not read".
      expect(r.stdout).not.toMatch(/not read: .*(metrics|karmada-etcd|karmada-cert)/);
      // Karmada's certificates, read from the chart's Secret: its CAs were made for 365 days at install, whatever
      // certs.auto.expiry says, and are the first to go.
      expect(r.stdout).toMatch(/^ {2}Karmada's certificates: the soonest to expire has 364 days left$/m);
      expect((await karmada.get(BACKEND))!.data).not.toHaveProperty("VACCEL_RPC_ADDRESS");
      // The verdict is the etcds' on this machine's disk, shared with everything the tests run: ready, or not ready
      // because an etcd is at risk on it (a real verdict, exit 1), never "cannot judge".
      const last = r.stdout.trim().split("\n").at(-1);
      if (r.status === 0) expect(last).toMatch(/^ready for the demo \(reset in \d+\.\d s\)$/);
      else {
        expect([r.status, last]).toEqual([1, "not ready for the demo: see above"]);
        expect(r.stdout).toMatch(/^ {2}etcd: etcd is (at risk|sick)/m);
      }
      expect([0, 1]).toContain(dry.status);
    },
  );

  it("backend remote with the GPU board down exits 2 and changes nothing", { timeout: 300_000 }, async () => {
    stopHost("jetson");
    try {
      // The node stops heartbeating; its pod turns unready; Karmada aggregates the agent as unavailable.
      await until(
        "the agent unavailable in Karmada's status",
        async () => (await karmada.get(AGENT))!.status?.availableReplicas ?? 0,
        (n) => n === 0,
      );
      const before = (await karmada.get(BACKEND))!.metadata.resourceVersion;
      const r = cli("backend", "remote", "--stack", "sim");
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/agent/i);
      expect((await karmada.get(BACKEND))!.metadata.resourceVersion).toBe(before);
    } finally {
      rebootHost("jetson", 0);
    }
    await until(
      "the agent available again",
      async () => (await karmada.get(AGENT))!.status?.availableReplicas ?? 0,
      (n) => n === 1,
      120_000,
    );
  });

  it(
    "destroy removes the pipeline, the join and Karmada with its etcd data; up again succeeds",
    {
      timeout: 600_000,
    },
    async () => {
      const runs = await destroy();
      const order = runs.map((r) => r.name);
      const i = (n: string) => order.indexOf(n);
      expect(i("vaccel-app")).toBeLessThan(i("karmada-member-edge-cluster"));
      expect(i("karmada-member-edge-cluster")).toBeLessThan(i("karmada-chart"));
      expect(i("karmada-chart")).toBeLessThan(i("karmada-host/karmada-etcd-data"));
      expect(runs.find((r) => r.name === "karmada-host/karmada-etcd-data")?.detail).toMatch(/^removed Karmada's etcd/);
      expect(fs.existsSync(SIM_OUTPUTS_FILE)).toBe(false);
      // The VMs are gone; nothing of Karmada is left on the machines either.
      expect(
        loadState()
          .hosts.map((h) => h.name)
          .sort(),
      ).toEqual(["jetson", "nuc", "pi"]);
      const left = ["pi", "jetson", "nuc"].flatMap((h) => overlayFiles(h)).filter((f) => /karmada/i.test(f));
      expect(left).toEqual([]);
      // And again on the same hosts: no certificate or etcd data of the first install is in the way.
      const r = await up();
      expect(r.steps.find((s) => s.name === "karmada-chart")?.op).toBe("create");
      karmada.close();
      karmada = clientOf("karmadaKubeconfig");
      expect(ready(await karmada.get(CLUSTER))).toBe(true);
      // The first install's objects did not come back from old etcd data: the backend is the stack's.
      expect((await karmada.get(BACKEND))!.data).not.toHaveProperty("VACCEL_RPC_ADDRESS");
    },
  );
});
