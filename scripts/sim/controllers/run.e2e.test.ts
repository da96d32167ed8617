/**
 * The cluster controllers double (`testbed sim cluster-controllers`, run as the k3s server double runs it: its own
 * process) against a real kube-apiserver with Debian's etcd (scripts/lib/kubeApiServer.ts) and a fake supervisor
 * serving /state. The program's own objects are sent: karmadactl join's member side, the vAccel pipeline. Between
 * the process and the API sits a TCP relay the test can cut, to play the API going away (a VM reboot). Skipped,
 * with its reason in its name, when the kube-apiserver build is not in the cache.
 */
import { type ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
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
} from "../../lib/kubeApiServer";
import { apiRequest } from "../../lib/kubeClient";
import { memberSideObjects } from "../../../components/karmada/join";
import { pipelineObjects } from "../../../components/vaccel/objects";
import type { SupervisorNode } from "./nodes";

const binary = kubeApiServerBinary();
const present = fs.existsSync(binary);
const REPO = path.join(__dirname, "../../..");

const args = {
  member: "edge",
  clientNode: "pi",
  gpuNode: "jetson",
  agentImage: "registry.example/vaccel-rpc-agent:0.6.1",
  appImage: "registry.example/yolo-vaccel@sha256:" + "a".repeat(64),
  port: 8192,
  backend: "local" as const,
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let output = "";

/** Polls `probe` every 50 ms until it returns something, bounded; returns it and the time it took. */
async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000) {
  const start = Date.now();
  for (;;) {
    const v = await probe();
    if (v !== undefined) return { value: v, ms: Date.now() - start };
    if (Date.now() - start > timeoutMs)
      throw new Error(
        `${what}: not within ${timeoutMs / 1000} s; the controllers' last lines:\n${output.split("\n").slice(-25).join("\n")}`,
      );
    await sleep(50);
  }
}

/**
 * Waits (bounded) until the controllers have logged a line matching `re`. Their log reaches this process through a
 * pipe, after the API request it reports has answered: what the API shows can come first.
 */
const logged = (re: RegExp) =>
  until(`the controllers to log ${re}`, async () => (re.test(output) ? true : undefined), 10_000);

/** A TCP relay to the API that can be cut (connections refused and dropped) and restored. */
function relay(to: number) {
  const sockets = new Set<net.Socket>();
  let up = true;
  const server = net.createServer((c) => {
    if (!up) {
      c.destroy();
      return;
    }
    const s = net.connect(to, "127.0.0.1");
    sockets.add(c).add(s);
    c.pipe(s).pipe(c);
    const drop = () => {
      c.destroy();
      s.destroy();
      sockets.delete(c);
      sockets.delete(s);
    };
    c.on("error", drop).on("close", drop);
    s.on("error", drop).on("close", drop);
  });
  return {
    server,
    cut: () => {
      up = false;
      for (const s of sockets) s.destroy();
    },
    restore: () => {
      up = true;
    },
  };
}

describe.skipIf(!present)(
  `cluster controllers double on kube-apiserver ${KUBE_APISERVER_VERSION}` +
    (present ? "" : ` (skipped: no ${binary}; run scripts/setup-kube-apiserver.sh)`),
  () => {
    let api: KubeApiServer;
    let child: ChildProcess;
    let supervisor: http.Server;
    let proxy: ReturnType<typeof relay>;
    const nodes: Record<string, SupervisorNode> = {
      "edge-server": { role: "server", labels: [], ip: "198.18.0.21", index: 0, ready: true, arch: "amd64" },
      pi: {
        role: "agent",
        labels: ["testbed.mlsysops.eu/board=raspberry-pi"],
        ip: "198.18.0.22",
        index: 1,
        ready: true,
        arch: "arm64",
        runtimes: [],
      },
      jetson: {
        role: "agent",
        labels: [],
        ip: "198.18.0.23",
        index: 2,
        ready: true,
        arch: "arm64",
        runtimes: ["nvidia"],
      },
    };
    const get = async (p: string) => (await api.request("GET", p)).body;
    const deploymentPath = (name: string) => `/apis/apps/v1/namespaces/vaccel-demo/deployments/${name}`;

    beforeAll(async () => {
      api = await startKubeApiServer();
      supervisor = http.createServer((req, res) => {
        if (req.url !== "/state") {
          res.writeHead(404).end();
          return;
        }
        res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({ nodes, secrets: {} }));
      });
      const supervisorPort = await freePort();
      await new Promise<void>((r) => supervisor.listen(supervisorPort, "127.0.0.1", r));
      proxy = relay(Number(new URL(api.url).port));
      const proxyPort = await freePort();
      await new Promise<void>((r) => proxy.server.listen(proxyPort, "127.0.0.1", r));
      const kubeconfig = parse(api.kubeconfig);
      kubeconfig.clusters[0].cluster.server = `https://127.0.0.1:${proxyPort}`;
      const file = path.join(api.stateDir, "controllers.kubeconfig");
      fs.writeFileSync(file, stringify(kubeconfig), { mode: 0o600 });
      child = spawn(
        process.execPath,
        [
          path.join(REPO, "scripts/testbed.js"),
          "sim",
          "cluster-controllers",
          "--kubeconfig",
          file,
          "--supervisor",
          `http://127.0.0.1:${supervisorPort}`,
        ],
        { stdio: ["ignore", "pipe", "pipe"] },
      );
      child.stdout!.on("data", (d: Buffer) => (output += d.toString()));
      child.stderr!.on("data", (d: Buffer) => (output += d.toString()));
    }, 180_000);

    afterAll(async () => {
      child?.kill("SIGTERM");
      proxy?.server.close();
      supervisor?.close();
      await api?.stop();
    }, 60_000);

    it("creates k3s's RuntimeClasses, nvidia among them", async () => {
      const rc = await until("RuntimeClass nvidia", async () => {
        const r = await api.request("GET", "/apis/node.k8s.io/v1/runtimeclasses/nvidia");
        return r.status === 200 ? r.body : undefined;
      });
      expect(rc.value.handler).toBe("nvidia");
    });

    it("registers one Node per supervisor node, with k3s's labels, Ready", async () => {
      const { value: list } = await until("three Ready nodes", async () => {
        const l = await get("/api/v1/nodes");
        const ready = l.items.filter((n: any) =>
          n.status?.conditions?.some((c: any) => c.type === "Ready" && c.status === "True"),
        );
        return ready.length === 3 ? l : undefined;
      });
      const byName = Object.fromEntries(list.items.map((n: any) => [n.metadata.name, n]));
      expect(byName["edge-server"].metadata.labels).toMatchObject({
        "kubernetes.io/hostname": "edge-server",
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "node-role.kubernetes.io/control-plane": "true",
        "node-role.kubernetes.io/master": "true",
      });
      expect(byName.pi.metadata.labels).toMatchObject({
        "kubernetes.io/hostname": "pi",
        "kubernetes.io/arch": "arm64",
        "testbed.mlsysops.eu/board": "raspberry-pi",
      });
      expect(byName.pi.metadata.labels["node-role.kubernetes.io/control-plane"]).toBeUndefined();
      expect(byName.jetson.status.addresses).toContainEqual({ type: "InternalIP", address: "198.18.0.23" });
    });

    it("registers a Node once per kubelet start, and deletes it when the supervisor drops the node (delete-node)", async () => {
      const present = async (want: boolean) =>
        until(`node spare ${want ? "present" : "absent"}`, async () => {
          const r = await api.request("GET", "/api/v1/nodes/spare");
          return (r.status === 200) === want ? true : undefined;
        });
      nodes.spare = { role: "agent", labels: [], ip: null, index: 3, ready: true, arch: "arm64", joined: 1 };
      await present(true);
      // Deleted through the API while its kubelet runs: the kubelet registered once and does not again.
      expect((await api.request("DELETE", "/api/v1/nodes/spare")).status).toBe(200);
      await sleep(1500);
      expect((await api.request("GET", "/api/v1/nodes/spare")).status).toBe(404);
      // The agent restarts (a new join): its kubelet registers the node again.
      nodes.spare.joined = 2;
      await present(true);
      // `k3s kubectl delete node spare` on the double: the supervisor drops it, the Node goes.
      delete nodes.spare;
      await present(false);
      await logged(/node spare deleted \(removed from the supervisor\)/);
    });

    it("fills the member's token Secrets as karmadactl join waits for them; the token authenticates", async () => {
      const m = memberSideObjects("edge");
      for (const obj of [m.namespace, m.serviceAccount, m.tokenSecret]) {
        const r = await api.create(obj as any);
        expect(r.status, `${obj.kind}: ${r.body?.message}`).toBe(201);
      }
      const secretPath = "/api/v1/namespaces/karmada-cluster/secrets/karmada-edge";
      const filled = await until("token in Secret karmada-edge", async () => {
        const s = await get(secretPath);
        return s.data?.token === undefined ? undefined : s;
      });
      process.stdout.write(`token Secret filled in ${filled.ms} ms\n`);
      const sa = await get("/api/v1/namespaces/karmada-cluster/serviceaccounts/karmada-edge");
      expect(filled.value.metadata.annotations["kubernetes.io/service-account.uid"]).toBe(sa.metadata.uid);
      expect(Buffer.from(filled.value.data.namespace, "base64").toString()).toBe("karmada-cluster");
      expect(Buffer.from(filled.value.data["ca.crt"], "base64").toString()).toBe(api.caPem);
      // The token is accepted by this API as the ServiceAccount.
      const token = Buffer.from(filled.value.data.token, "base64").toString();
      const https = await import("node:https");
      const agent = new https.Agent({ ca: api.caPem });
      const review = await apiRequest({
        url: `${api.url}/apis/authentication.k8s.io/v1/selfsubjectreviews`,
        method: "POST",
        agent,
        timeoutMs: 10_000,
        token,
        body: { apiVersion: "authentication.k8s.io/v1", kind: "SelfSubjectReview" },
      });
      expect(review.status).toBe(201);
      expect((review.json as any).status.userInfo.username).toBe("system:serviceaccount:karmada-cluster:karmada-edge");
      agent.destroy();
    });

    it("deletes a token Secret whose ServiceAccount does not exist, as the token controller does", async () => {
      const m = memberSideObjects("edge");
      const orphan = { ...m.impersonatorTokenSecret }; // its ServiceAccount karmada-impersonator is not created
      expect((await api.create(orphan as any)).status).toBe(201);
      await until("orphan Secret deleted", async () => {
        const r = await api.request("GET", "/api/v1/namespaces/karmada-cluster/secrets/karmada-impersonator");
        return r.status === 404 ? true : undefined;
      });
    });

    it("makes the pipeline's Deployments available on their nodes", async () => {
      const p = pipelineObjects(args);
      for (const obj of [p.namespace, p.configMap, p.agent, p.service, p.app]) {
        const r = await api.create(obj as any);
        expect(r.status, `${obj.kind} ${obj.metadata?.name}: ${r.body?.message}`).toBe(201);
      }
      const available = (name: string) =>
        until(`${name} available`, async () => {
          const d = await get(deploymentPath(name));
          return d.status?.availableReplicas === 1 && d.status.observedGeneration === d.metadata.generation
            ? d
            : undefined;
        });
      const app = await available("object-detection");
      const agent = await available("vaccel-rpc-agent");
      process.stdout.write(`app available in ${app.ms} ms, agent in ${agent.ms} ms\n`);
      for (const d of [app.value, agent.value]) {
        expect(d.status).toMatchObject({ replicas: 1, updatedReplicas: 1, readyReplicas: 1, availableReplicas: 1 });
        expect(d.status.unavailableReplicas).toBeUndefined();
        const conds = Object.fromEntries(d.status.conditions.map((c: any) => [c.type, c]));
        expect(conds.Available).toMatchObject({ status: "True", reason: "MinimumReplicasAvailable" });
        await until("Progressing NewReplicaSetAvailable", async () => {
          const x = await get(deploymentPath(d.metadata.name));
          const c = x.status.conditions.find((y: any) => y.type === "Progressing");
          return c?.reason === "NewReplicaSetAvailable" ? c : undefined;
        });
      }
      // The controller-manager's per-namespace objects, without which the API admits no pod.
      expect((await api.request("GET", "/api/v1/namespaces/vaccel-demo/serviceaccounts/default")).status).toBe(200);
      const rootCa = await get("/api/v1/namespaces/vaccel-demo/configmaps/kube-root-ca.crt");
      expect(rootCa.data["ca.crt"]).toBe(api.caPem);
      // One Pod per replica, bound to its node, Running, with a pod IP.
      const pods = await until("the app's pod running", async () => {
        const l = await get(
          "/api/v1/namespaces/vaccel-demo/pods?labelSelector=app.kubernetes.io%2Fname%3Dobject-detection",
        );
        return l.items.length === 1 && l.items[0].status.podIP !== undefined ? l.items : undefined;
      });
      expect(pods.value[0].spec.nodeName).toBe("pi");
      expect(pods.value[0].status.phase).toBe("Running");
      expect(pods.value[0].status.hostIP).toBe("198.18.0.22");
      expect(pods.value[0].metadata.labels["pod-template-hash"]).toMatch(/^\w+$/);
      await logged(/pod vaccel-rpc-agent-\w+-\w+ scheduled on jetson/);
      await logged(/pod object-detection-\w+-\w+ scheduled on pi/);
    });

    it("rolls the app out Recreate-style after a template change, step by step", async () => {
      const before = await get(deploymentPath("object-detection"));
      const remote = pipelineObjects({ ...args, backend: "remote" }).app;
      const g = before.metadata.generation + 1;
      const seen: string[] = [];
      const watch = (async () => {
        for (let i = 0; i < 400; i++) {
          const d = await get(deploymentPath("object-detection"));
          const s = d.status;
          const line = `${s.observedGeneration} r${s.replicas ?? 0} u${s.updatedReplicas ?? 0} rd${s.readyReplicas ?? 0} a${s.availableReplicas ?? 0} un${s.unavailableReplicas ?? 0}`;
          if (seen.at(-1) !== line) seen.push(line);
          if (s.observedGeneration === g && s.updatedReplicas === 1 && s.availableReplicas === 1) return;
          await sleep(25);
        }
      })();
      const put = await api.request("PUT", `${deploymentPath("object-detection")}`, {
        ...remote,
        metadata: { ...remote.metadata, resourceVersion: before.metadata.resourceVersion },
      });
      expect(put.status, put.body?.message).toBe(200);
      await watch;
      process.stdout.write(`Recreate rollout statuses: ${seen.join(" | ")}\n`);
      // The old ReplicaSet scaled to 0 first, its pod still counted; then it is gone before the new one exists:
      // nothing runs in between; then the new pod, unready, then ready.
      expect(seen).toContain(`${g} r1 u0 rd1 a1 un0`);
      expect(seen).toContain(`${g} r0 u0 rd0 a0 un0`);
      expect(seen).toContain(`${g} r1 u1 rd0 a0 un1`);
      expect(seen.at(-1)).toBe(`${g} r1 u1 rd1 a1 un0`);
      expect(seen.indexOf(`${g} r0 u0 rd0 a0 un0`)).toBeLessThan(seen.indexOf(`${g} r1 u1 rd0 a0 un1`));
      // Never two pods at once.
      expect(seen.every((l) => !/ r2 /.test(l))).toBe(true);
      // The old pod is gone from the API, the new one runs, with the new template's hash.
      const pods = await until("only the new pod left", async () => {
        const l = await get(
          "/api/v1/namespaces/vaccel-demo/pods?labelSelector=app.kubernetes.io%2Fname%3Dobject-detection",
        );
        return l.items.length === 1 && l.items[0].status.phase === "Running" ? l.items : undefined;
      });
      expect(pods.value[0].metadata.annotations).toEqual(remote.spec!.template.metadata!.annotations);
    });

    it("marks a node whose kubelet stops posting NotReady, and its Deployment unavailable", async () => {
      nodes.jetson.ready = false;
      await until("jetson NotReady", async () => {
        const n = await get("/api/v1/nodes/jetson");
        const c = n.status.conditions.find((x: any) => x.type === "Ready");
        return c.status === "Unknown" && n.spec.taints?.some((t: any) => t.key === "node.kubernetes.io/unreachable")
          ? c
          : undefined;
      });
      const d = await until("agent unavailable", async () => {
        const x = await get(deploymentPath("vaccel-rpc-agent"));
        return x.status.availableReplicas === undefined ? x : undefined;
      });
      expect(d.value.status).toMatchObject({ replicas: 1, updatedReplicas: 1, unavailableReplicas: 1 });
      const available = d.value.status.conditions.find((c: any) => c.type === "Available");
      expect(available).toMatchObject({ status: "False", reason: "MinimumReplicasUnavailable" });
    });

    it("keeps a Deployment pinned to a NotReady node unavailable, Progressing until its deadline", async () => {
      const p = pipelineObjects(args).agent as any;
      const pinned = {
        ...p,
        metadata: { ...p.metadata, name: "pinned" },
        spec: { ...p.spec, progressDeadlineSeconds: 3 },
      };
      expect((await api.create(pinned)).status).toBe(201);
      const timedOut = await until(
        "pinned times out",
        async () => {
          const x = await get(deploymentPath("pinned"));
          const c = x.status?.conditions?.find((y: any) => y.type === "Progressing");
          return c?.reason === "ProgressDeadlineExceeded" ? x : undefined;
        },
        20_000,
      );
      const s = timedOut.value.status;
      expect(s).toMatchObject({ replicas: 1, updatedReplicas: 1, unavailableReplicas: 1 });
      expect(s.readyReplicas).toBeUndefined();
      expect(s.conditions.find((c: any) => c.type === "Progressing")).toMatchObject({
        status: "False",
        message: expect.stringMatching(/^ReplicaSet "pinned-\w+" has timed out progressing\.$/),
      });
      await logged(/pod pinned-\w+-\w+ unschedulable/);
    });

    it("rides out the API going away, then fills what arrived meanwhile", async () => {
      proxy.cut();
      await until("a retry logged", async () => (/retrying in/.test(output) ? true : undefined));
      const m = memberSideObjects("edge");
      for (const obj of [m.impersonatorServiceAccount, m.impersonatorTokenSecret]) {
        expect((await api.create(obj as any)).status).toBe(201);
      }
      await sleep(1500);
      expect(child.exitCode).toBeNull();
      proxy.restore();
      await until("impersonator token filled", async () => {
        const s = await get("/api/v1/namespaces/karmada-cluster/secrets/karmada-impersonator");
        return s.data?.token === undefined ? undefined : s;
      });
      await until("the recovery logged", async () => (/answers again/.test(output) ? true : undefined));
    });

    it("logs one line per action, runs in a small RSS, and ends at once on SIGTERM", async () => {
      const rss = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${child.pid}/status`, "utf8"))![1];
      // utime and stime (fields 14 and 15 of /proc/PID/stat), in clock ticks of 1/100 s.
      const stat = fs.readFileSync(`/proc/${child.pid}/stat`, "utf8").split(") ")[1].split(" ");
      const cpu = (Number(stat[11]) + Number(stat[12])) / 100;
      const uptime = Number(fs.readFileSync("/proc/uptime", "utf8").split(" ")[0]) - Number(stat[19]) / 100;
      process.stdout.write(
        `cluster controllers RSS ${Math.round(Number(rss) / 1024)} MiB, CPU ${cpu.toFixed(1)} s in ${uptime.toFixed(0)} s\n`,
      );
      await logged(/secret karmada-cluster\/karmada-edge filled \(token, ca\.crt, namespace\)/);
      expect(output).not.toContain(api.kubeconfig.match(/token: (\S+)/)![1]);
      const exited = new Promise<number | null>((r) =>
        child.once("exit", (code, signal) => r(code ?? (signal ? 0 : null))),
      );
      const start = Date.now();
      child.kill("SIGTERM");
      await exited;
      expect(Date.now() - start).toBeLessThan(2000);
      expect(child.signalCode).toBe("SIGTERM");
    });
  },
);
