/**
 * The Karmada controllers double (scripts/sim/karmada/controllers.ts) run as `testbed sim karmada-controllers`, in
 * its own process, between two real kube-apiservers (scripts/lib/kubeApiServer.ts): one serves as the Karmada API
 * (Karmada v1.13.0's PropagationPolicy and Cluster kinds installed), the other as the member cluster. The member
 * has no controllers: the test writes its Deployment's status as the member's deployment controller would. Skipped,
 * with its reason in its name, when the kube-apiserver build is not in the cache.
 */
import { type ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import {
  KUBE_APISERVER_VERSION,
  type KubeApiServer,
  freePort,
  kubeApiServerBinary,
  startKubeApiServer,
} from "../scripts/lib/kubeApiServer";
import { installKarmadaKinds, joinMember } from "../scripts/lib/karmadaDouble";
import { clusterPath, pathOf } from "../scripts/lib/demo";
import { pipelineObjects } from "../components/vaccel/objects";

const binary = kubeApiServerBinary();
const present = fs.existsSync(binary);
const REPO = path.join(__dirname, "..");
/** Thresholds short enough for a test; the defaults (30 s) are Karmada's and unit-tested in status.test.ts. */
const THRESHOLD = "2s";

const args = {
  member: "edge",
  clientNode: "pi",
  gpuNode: "jetson",
  agentImage: "registry.example/vaccel-rpc-agent:0.6.1",
  appImage: "registry.example/yolo-vaccel:0.1.0",
  port: 8192,
  backend: "local" as const,
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls until `check` returns a value (bounded); returns it and how long it took. */
async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 30_000) {
  const t0 = Date.now();
  for (;;) {
    const v = await check();
    if (v !== undefined) return { value: v, ms: Date.now() - t0 };
    if (Date.now() - t0 > timeoutMs) throw new Error(`not within ${timeoutMs / 1000} s: ${what}`);
    await sleep(50);
  }
}

describe.skipIf(!present)(
  `the Karmada controllers double between two kube-apiservers ${KUBE_APISERVER_VERSION}` +
    (present ? "" : ` (skipped: no ${binary}; run scripts/setup-kube-apiserver.sh)`),
  () => {
    let karmada: KubeApiServer;
    let member: KubeApiServer;
    let controllers: ChildProcess;
    let output = "";
    const figures: Record<string, number> = {};
    const p = pipelineObjects(args);

    const readyOf = async (name: string) =>
      (await karmada.request("GET", clusterPath(name))).body?.status?.conditions?.find(
        (c: { type: string }) => c.type === "Ready",
      );
    const onMember = async (o: Parameters<typeof pathOf>[0]) => member.request("GET", pathOf(o));
    const join = (name: string, endpoint: string) => joinMember(karmada, member, name, endpoint);
    const startControllers = (kubeconfigPath = karmada.kubeconfigPath) => {
      controllers = spawn(
        process.execPath,
        [
          path.join(REPO, "scripts/testbed.js"),
          "sim",
          "karmada-controllers",
          "--kubeconfig",
          kubeconfigPath,
          "--poll-interval",
          "200ms",
          "--cluster-status-update-frequency",
          "1s",
          "--cluster-success-threshold",
          THRESHOLD,
          "--cluster-failure-threshold",
          THRESHOLD,
        ],
        { cwd: REPO, stdio: ["ignore", "pipe", "pipe"] },
      );
      controllers.stdout?.on("data", (d: Buffer) => (output += d.toString()));
      controllers.stderr?.on("data", (d: Buffer) => (output += d.toString()));
    };

    beforeAll(async () => {
      [karmada, member] = await Promise.all([startKubeApiServer(), startKubeApiServer()]);
      await installKarmadaKinds(karmada);
      startControllers();
    }, 180_000);

    afterAll(async () => {
      if (controllers !== undefined && controllers.exitCode === null) controllers.kill("SIGKILL");
      await Promise.all([karmada?.stop(), member?.stop()]);
      process.stdout.write(`karmada controllers double figures: ${JSON.stringify(figures)}\n${output}`);
    }, 60_000);

    it("a Cluster whose Secret holds the member's token and CA turns Ready, with Karmada's reason, version and APIs", async () => {
      await join("edge", member.url);
      const { value, ms } = await until("Cluster edge Ready", async () => {
        const c = await readyOf("edge");
        return c?.status === "True" ? c : undefined;
      });
      figures.clusterReadyMs = ms;
      expect(value).toMatchObject({
        reason: "ClusterReady",
        message: "cluster is healthy and ready to accept workloads",
      });
      const c = (await karmada.request("GET", clusterPath("edge"))).body;
      expect(c.metadata.finalizers).toContain("karmada.io/cluster-controller");
      expect(c.status.kubernetesVersion).toBe(KUBE_APISERVER_VERSION);
      const apps = c.status.apiEnablements.find((e: { groupVersion: string }) => e.groupVersion === "apps/v1");
      expect(apps.resources).toContainEqual({ name: "deployments", kind: "Deployment" });
      expect(c.status.conditions.find((x: { type: string }) => x.type === "CompleteAPIEnablements")).toMatchObject({
        status: "True",
        reason: "Complete",
      });
    });

    it("a Cluster at an endpoint nothing answers turns not Ready: ClusterNotReachable", async () => {
      await join("dead", `https://127.0.0.1:${await freePort()}`);
      const { value } = await until("Cluster dead not Ready", async () => {
        const c = await readyOf("dead");
        return c?.status === "False" ? c : undefined;
      });
      expect(value).toMatchObject({ reason: "ClusterNotReachable", message: "cluster is not reachable" });
    });

    it("the vAccel pipeline created in the Karmada API appears on the member, claimed and labelled as Karmada does", async () => {
      const t0 = Date.now();
      for (const o of [p.namespace, p.configMap, p.agent, p.service, p.app, p.policy]) {
        const r = await karmada.create(o);
        expect(r.status, `${o.kind}: ${r.body?.message}`).toBe(201);
      }
      for (const o of [p.namespace, p.configMap, p.agent, p.service, p.app])
        await until(`${o.kind} ${o.metadata?.name} on the member`, async () =>
          (await onMember(o)).status === 200 ? true : undefined,
        );
      figures.propagationMs = Date.now() - t0;
      const policy = (await karmada.request("GET", pathOf(p.policy))).body;
      const id = policy.metadata.labels["propagationpolicy.karmada.io/permanent-id"];
      expect(id).toMatch(/^[0-9a-f-]{36}$/);
      expect(policy.metadata.finalizers).toEqual(["karmada.io/propagation-policy-controller"]);
      const template = (await karmada.request("GET", pathOf(p.app))).body;
      expect(template.metadata.labels["propagationpolicy.karmada.io/permanent-id"]).toBe(id);
      const app = (await onMember(p.app)).body;
      expect(app.spec.template).toMatchObject(p.app.spec?.template ?? {});
      expect(app.metadata.labels).toMatchObject({
        "karmada.io/managed": "true",
        "propagationpolicy.karmada.io/permanent-id": id,
      });
      expect(app.metadata.annotations).toMatchObject({
        "resourcetemplate.karmada.io/uid": template.metadata.uid,
        "work.karmada.io/namespace": "karmada-es-edge",
        "work.karmada.io/name": "object-detection-668654b499",
        "resourcebinding.karmada.io/name": "object-detection-deployment",
      });
      // The member allocated its own cluster IP: the Karmada API's was pruned.
      expect(app.metadata.managedFields.map((f: { manager: string }) => f.manager)).toEqual([
        "karmada-controller-manager",
      ]);
      const svc = (await onMember(p.service)).body;
      const tsvc = (await karmada.request("GET", pathOf(p.service))).body;
      expect(svc.spec.clusterIP).not.toBe(tsvc.spec.clusterIP);
      expect((await onMember(p.namespace)).body.metadata.labels["karmada.io/managed"]).toBe("true");
      // Nothing went to the cluster that is not Ready.
      expect(output).not.toMatch(/scheduled to dead/);
    });

    it("the member Deployment's status, as its deployment controller writes it, is aggregated onto the template", async () => {
      // The member's copy of the template's latest generation (the claim bumped it).
      const { value: copy } = await until("the member copy of the latest template", async () => {
        const t = (await karmada.request("GET", pathOf(p.app))).body;
        const m = (await onMember(p.app)).body;
        return m.metadata.annotations["resourcetemplate.karmada.io/generation"] === String(t.metadata.generation)
          ? { t, m }
          : undefined;
      });
      const t0 = Date.now();
      const status = {
        observedGeneration: copy.m.metadata.generation,
        replicas: 1,
        updatedReplicas: 1,
        readyReplicas: 1,
        availableReplicas: 1,
      };
      const put = await member.request("PUT", `${pathOf(p.app)}/status`, { ...copy.m, status });
      expect(put.status, put.body?.message).toBe(200);
      const { value } = await until("aggregated status on the template", async () => {
        const t = (await karmada.request("GET", pathOf(p.app))).body;
        return t.status?.availableReplicas === 1 ? t : undefined;
      });
      figures.aggregationMs = Date.now() - t0;
      expect(value.status).toEqual({ ...status, observedGeneration: copy.t.metadata.generation });
    });

    it("a template change reaches the member; a deleted template disappears from it", async () => {
      const cm = await karmada.request("PATCH", pathOf(p.configMap), { data: { VACCEL_LOG_LEVEL: "1" } });
      expect(cm.status).toBe(200);
      await until("the ConfigMap change on the member", async () =>
        (await onMember(p.configMap)).body.data.VACCEL_LOG_LEVEL === "1" ? true : undefined,
      );
      const t0 = Date.now();
      expect((await karmada.request("DELETE", pathOf(p.service))).status).toBe(200);
      await until("the Service gone from the member", async () =>
        (await onMember(p.service)).status === 404 ? true : undefined,
      );
      figures.deletionMs = Date.now() - t0;
      await until("the deletion's log line", async () =>
        /edge: deleted Service vaccel-demo\/vaccel-rpc-agent\n/.test(output) ? true : undefined,
      );
    });

    it("a Ready member that stops answering turns ClusterNotReachable after the failure threshold, and Ready again", async () => {
      const dead = `https://127.0.0.1:${await freePort()}`;
      const r = await karmada.request("PATCH", clusterPath("edge"), { spec: { apiEndpoint: dead } });
      expect(r.status).toBe(200);
      const down = await until("edge not Ready", async () => {
        const c = await readyOf("edge");
        return c?.status === "False" ? c : undefined;
      });
      expect(down.value.reason).toBe("ClusterNotReachable");
      // Not before the threshold (less the first check's own delay).
      expect(down.ms).toBeGreaterThanOrEqual(1500);
      await karmada.request("PATCH", clusterPath("edge"), { spec: { apiEndpoint: member.url } });
      await until("edge Ready again", async () => ((await readyOf("edge"))?.status === "True" ? true : undefined));
    });

    it("restarted, it takes up the member copies it made (same Work ids, nothing created again) and deletes those whose template went meanwhile", async () => {
      const before = (await onMember(p.app)).body.metadata;
      const mark = output.length;
      const exited = new Promise((r) => controllers.once("exit", r));
      controllers.kill("SIGTERM");
      await exited;
      // A template deleted while no controller runs: its copy must still go.
      expect((await karmada.request("DELETE", pathOf(p.agent))).status).toBe(200);
      startControllers();
      // A template change reaching the member shows the new process has rebuilt its bindings.
      await karmada.request("PATCH", pathOf(p.configMap), { data: { VACCEL_LOG_LEVEL: "2" } });
      await until("the ConfigMap change on the member", async () =>
        (await onMember(p.configMap)).body.data.VACCEL_LOG_LEVEL === "2" ? true : undefined,
      );
      const after = (await onMember(p.app)).body.metadata;
      expect(after.labels["work.karmada.io/permanent-id"]).toBe(before.labels["work.karmada.io/permanent-id"]);
      expect(after.labels["resourcebinding.karmada.io/permanent-id"]).toBe(
        before.labels["resourcebinding.karmada.io/permanent-id"],
      );
      expect(after.resourceVersion).toBe(before.resourceVersion);
      expect(output.slice(mark)).not.toMatch(/: created /);
      await until("the agent's copy gone from the member", async () =>
        (await onMember(p.agent)).status === 404 ? true : undefined,
      );
    });

    it("a deleted PropagationPolicy lets go of its templates and keeps their member copies, as Karmada's bindings stay", async () => {
      expect((await karmada.request("DELETE", pathOf(p.policy))).status).toBe(200);
      await until("the policy gone", async () =>
        (await karmada.request("GET", pathOf(p.policy))).status === 404 ? true : undefined,
      );
      const template = (await karmada.request("GET", pathOf(p.app))).body;
      expect(template.metadata.labels["propagationpolicy.karmada.io/permanent-id"]).toBeUndefined();
      expect(template.metadata.annotations?.["propagationpolicy.karmada.io/name"]).toBeUndefined();
      expect((await onMember(p.app)).status).toBe(200);
    });

    it("a deleted Cluster loses its finalizer and goes", async () => {
      expect((await karmada.request("DELETE", clusterPath("dead"))).status).toBe(200);
      await until("Cluster dead gone", async () =>
        (await karmada.request("GET", clusterPath("dead"))).status === 404 ? true : undefined,
      );
    });

    it("survives the Karmada API not answering for a while (a reboot), and carries on where it was", async () => {
      // A TCP relay in front of the Karmada API, closed and opened again on the same port: the API "reboots".
      const port = await freePort();
      const target = Number(new URL(karmada.url).port);
      const sockets = new Set<net.Socket>();
      const relay = () =>
        net.createServer((c) => {
          const u = net.connect(target, "127.0.0.1");
          for (const x of [c, u]) {
            sockets.add(x);
            x.on("close", () => sockets.delete(x));
            x.on("error", () => x.destroy());
          }
          c.pipe(u).pipe(c);
        });
      const listen = (server: net.Server) => new Promise<void>((r) => server.listen(port, "127.0.0.1", () => r()));
      let server = relay();
      await listen(server);
      const kc = parse(karmada.kubeconfig);
      kc.clusters[0].cluster.server = `https://127.0.0.1:${port}`;
      const file = path.join(karmada.stateDir, "relayed.kubeconfig");
      fs.writeFileSync(file, stringify(kc), { mode: 0o600 });
      const exited = new Promise((r) => controllers.once("exit", r));
      controllers.kill("SIGTERM");
      await exited;
      const mark = output.length;
      startControllers(file);
      await until("a round through the relay", async () => (/polling/.test(output.slice(mark)) ? true : undefined));
      await sleep(500);
      server.close();
      for (const x of sockets) x.destroy();
      await until("the outage logged", async () =>
        /Karmada API: .*ECONNREFUSED/.test(output.slice(mark)) ? true : undefined,
      );
      await karmada.request("PATCH", pathOf(p.configMap), { data: { VACCEL_LOG_LEVEL: "5" } });
      await sleep(1000);
      expect((await onMember(p.configMap)).body.data.VACCEL_LOG_LEVEL).not.toBe("5");
      expect(controllers.exitCode).toBeNull();
      server = relay();
      await listen(server);
      await until("the change on the member after the outage", async () =>
        (await onMember(p.configMap)).body.data.VACCEL_LOG_LEVEL === "5" ? true : undefined,
      );
      await until("the recovery logged", async () =>
        /Karmada API: answers again/.test(output.slice(mark)) ? true : undefined,
      );
      // The outage was logged once, not once per round.
      expect(output.slice(mark).match(/Karmada API: .*ECONNREFUSED/g)).toHaveLength(1);
      // Its memory after all of the above, the pipeline in hand.
      const rss = fs.readFileSync(`/proc/${controllers.pid}/status`, "utf8").match(/VmRSS:\s+(\d+) kB/);
      figures.rssMiB = Math.round(Number(rss?.[1]) / 1024);
      const stopped = new Promise((r) => controllers.once("exit", r));
      controllers.kill("SIGTERM");
      await stopped;
      server.close();
      for (const x of sockets) x.destroy();
      const mark2 = output.length;
      startControllers();
      await until("the controllers running again", async () =>
        /polling/.test(output.slice(mark2)) ? true : undefined,
      );
    });

    it("keeps one line per action, and exits at once on SIGTERM", async () => {
      expect(output).toMatch(/Cluster edge: Ready=True ClusterReady/);
      expect(output).toMatch(/edge: created Deployment vaccel-demo\/object-detection/);
      // Each action once: the app's claim is one line, however many selectors name Deployments.
      expect(output.match(/Deployment vaccel-demo\/object-detection: claimed by/g)).toHaveLength(1);
      expect(output).not.toContain(parse(member.kubeconfig).users[0].user.token);
      const t0 = Date.now();
      const exited = new Promise<number | null>((r) => controllers.once("exit", (code) => r(code)));
      controllers.kill("SIGTERM");
      expect(await exited).toBe(0);
      figures.sigtermExitMs = Date.now() - t0;
    });
  },
);
