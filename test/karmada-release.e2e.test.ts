/**
 * The sim's double of the Karmada Release (scripts/sim/karmada/release.ts) for real: a bare kube-apiserver as the
 * host cluster, Karmada's etcd and karmada-apiserver as processes on this machine (a local "node" whose `/` is a
 * temporary directory), with the values the program really produces. Skipped, with its reason in its name, when
 * the kube-apiserver build is not cached (README, "A real kube-apiserver"). Run under the machine-wide lock.
 */
import { X509Certificate } from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KARMADA_READY_TIMEOUT_S } from "../components/karmada/timeouts";
import { karmadaApiKubeconfig } from "../components/karmada/kubeconfig";
import { KARMADA_NAMESPACE, KARMADA_RELEASE, karmadaHelmValues } from "../components/karmada/values";
import { pipelineObjects } from "../components/vaccel/objects";
import {
  ADVERTISE_ADDRESS,
  type KubeApiServer,
  freePort,
  kubeApiServerBinary,
  startKubeApiServer,
} from "../scripts/lib/kubeApiServer";
import { kubeClient, kubeTarget } from "../scripts/lib/kubeClient";
import { localNode } from "../scripts/sim/karmada/node";
import { DEFAULT_STATE_DIR, installKarmadaRelease, uninstallKarmadaRelease } from "../scripts/sim/karmada/release";

const binary = kubeApiServerBinary();
const present = fs.existsSync(binary);
/** The sim's stand-in for the host's address in the values: covered by the certificate, never connected to here. */
const HOST_ADDRESS = "198.18.0.10";
const NODE = "mgmt";

/** A free port in the NodePort range (30000-32767), which karmadaHelmValues requires. */
async function freeNodePort(): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = 30000 + Math.floor(Math.random() * 2768);
    const free = await new Promise<boolean>((resolve) => {
      const s = net.createServer();
      s.once("error", () => resolve(false));
      s.listen(port, "0.0.0.0", () => s.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error("no free port in 30000-32767");
}

function vmRssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
  return m === null ? NaN : Number(m[1]);
}

function running(pid: number): boolean {
  try {
    return fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(" ")[2] !== "Z";
  } catch {
    return false;
  }
}

async function gone(pids: number[], timeoutMs = 45_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (pids.some(running)) {
    if (Date.now() > deadline) throw new Error(`pids ${pids.filter(running).join(", ")} still run`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe.skipIf(!present)(
  "the Karmada Release double on a real kube-apiserver" + (present ? "" : ` (skipped: no ${binary})`),
  () => {
    let host: KubeApiServer;
    let root: string;
    let nodePort: number;
    let etcdPorts: { client: number; peer: number };
    const pidsFile = () => path.join(root, DEFAULT_STATE_DIR, KARMADA_NAMESPACE, KARMADA_RELEASE, "pids.json");
    const etcdData = () => path.join(root, "var/lib", KARMADA_NAMESPACE, "karmada-etcd");
    const request = (port: number, timeout = KARMADA_READY_TIMEOUT_S) => ({
      inputs: {
        name: KARMADA_RELEASE,
        chart: "karmada",
        version: "1.13.0",
        repositoryOpts: { repo: "https://raw.githubusercontent.com/karmada-io/karmada/master/charts" },
        namespace: KARMADA_NAMESPACE,
        createNamespace: true,
        values: karmadaHelmValues({ hostAddress: HOST_ADDRESS, apiNodePort: port, etcdNode: NODE }),
        timeout,
        skipAwait: false,
        waitForJobs: true,
      },
      kubeconfig: host.kubeconfig,
      node: localNode(NODE, root),
      etcdPorts,
      advertiseAddress: ADVERTISE_ADDRESS,
      log: (line: string) => console.log(line),
    });
    const secret = async (name: string) =>
      host.request("GET", `/api/v1/namespaces/${KARMADA_NAMESPACE}/secrets/${name}`);
    const karmadaClient = async (port: number) => {
      const s = await secret("karmada-kubeconfig");
      expect(s.status).toBe(200);
      const text = Buffer.from(s.body.data.kubeconfig, "base64").toString("utf8");
      // The program's own rewrite (components/karmada/karmada.ts), pointed at where this test reaches the node.
      return kubeClient(kubeTarget(karmadaApiKubeconfig(text, "127.0.0.1", port), "Karmada API kubeconfig"));
    };
    const pipeline = pipelineObjects({
      member: "edge",
      clientNode: "pi",
      gpuNode: "jetson",
      agentImage: "registry.example/vaccel-rpc-agent:0.6.1",
      appImage: "registry.example/yolo-vaccel:0.6.1",
      port: 8192,
      backend: "local",
    });
    const { policy } = pipeline;

    beforeAll(async () => {
      host = await startKubeApiServer();
      root = fs.mkdtempSync(path.join(os.tmpdir(), "testbed-karmada-node-"));
      nodePort = await freeNodePort();
      etcdPorts = { client: await freePort(), peer: await freePort() };
      // What the controller-manager's serviceaccount controller makes in every namespace, which a pod needs to be
      // admitted (no controller-manager runs beside this bare API server).
      await host.request("POST", "/api/v1/namespaces", {
        apiVersion: "v1",
        kind: "Namespace",
        metadata: { name: KARMADA_NAMESPACE },
      });
      await host.request("POST", `/api/v1/namespaces/${KARMADA_NAMESPACE}/serviceaccounts`, {
        apiVersion: "v1",
        kind: "ServiceAccount",
        metadata: { name: "default" },
      });
    }, 180_000);

    afterAll(async () => {
      // Whatever a failed test left running.
      try {
        const pids = Object.values(JSON.parse(fs.readFileSync(pidsFile(), "utf8"))) as number[];
        for (const pid of pids.filter(running)) process.kill(pid, "SIGKILL");
      } catch {
        // no pids file: nothing started
      }
      await host?.stop();
      if (root !== undefined) fs.rmSync(root, { recursive: true, force: true });
    }, 60_000);

    it("installs as helm install --wait does: the Secrets, etcd on the hostPath, the API with Karmada's kinds", async () => {
      const t0 = Date.now();
      const out = await installKarmadaRelease(request(nodePort));
      const installS = (Date.now() - t0) / 1000;
      expect(out.status).toEqual({
        name: KARMADA_RELEASE,
        namespace: KARMADA_NAMESPACE,
        chart: "karmada",
        version: "v1.13.0",
        appVersion: "v1.1.0",
        revision: 1,
        status: "deployed",
      });

      const cert = await secret("karmada-cert");
      expect(cert.status).toBe(200);
      // The keys components/etcd/probe.sh reads, and the rest of the chart's (pre-install-job.yaml:256-269).
      expect(Object.keys(cert.body.data).sort()).toEqual(
        [
          "front-proxy-ca.crt",
          "front-proxy-client.crt",
          "front-proxy-client.key",
          "karmada.crt",
          "karmada.key",
          "server-ca.crt",
          "server-ca.key",
        ].sort(),
      );
      const crt = new X509Certificate(Buffer.from(cert.body.data["karmada.crt"], "base64"));
      expect(crt.subjectAltName).toContain(`IP Address:${HOST_ADDRESS}`);
      expect(crt.subjectAltName).toContain("DNS:*.karmada-system.svc.cluster.local");
      expect(crt.subject).toContain("CN=system:admin");
      // certs.auto.expiry 43800h: five years (365 * 5 days), give or take the seconds the test took.
      const lifetimeDays = (Date.parse(crt.validTo) - Date.parse(crt.validFrom)) / 86_400_000;
      expect(Math.round(lifetimeDays)).toBe(1825);
      const kubeconfig = Buffer.from((await secret("karmada-kubeconfig")).body.data.kubeconfig, "base64").toString();
      expect(kubeconfig).toContain("server: https://karmada-apiserver.karmada-system.svc.cluster.local:5443");

      expect(fs.existsSync(path.join(etcdData(), "member"))).toBe(true);
      // etcd's pod on the host cluster, where doctor finds it by its label: on the node, Running, the node's IP.
      const pods = await host.request("GET", `/api/v1/namespaces/${KARMADA_NAMESPACE}/pods?labelSelector=app%3Detcd`);
      expect(
        (
          pods.body.items as { metadata: { name: string }; spec: { nodeName: string }; status: { podIP: string } }[]
        ).map((p) => [p.metadata.name, p.spec.nodeName, p.status.podIP]),
      ).toEqual([["etcd-0", NODE, "127.0.0.1"]]);
      const pids = JSON.parse(fs.readFileSync(pidsFile(), "utf8")) as Record<string, number>;
      // C2's controllers double runs next to the API once it exists (scripts/sim/karmada/controllers.ts).
      const controllers = fs.existsSync(path.join(__dirname, "../scripts/sim/karmada/controllers.ts"));
      expect(pids.controllers !== undefined && running(pids.controllers)).toBe(controllers);
      console.log(
        `karmada release install: ${installS.toFixed(1)} s; RSS karmada-apiserver ${(vmRssKb(pids.apiserver) / 1024).toFixed(0)} MiB, ` +
          `etcd ${(vmRssKb(pids.etcd) / 1024).toFixed(0)} MiB`,
      );
    }, 300_000);

    it("the Secret's kubeconfig, rewritten by the program, reaches the Karmada API and creates a PropagationPolicy", async () => {
      const karmada = await karmadaClient(nodePort);
      try {
        await karmada.post("/api/v1/namespaces", pipeline.namespace);
        const created = await karmada.post(
          `/apis/policy.karmada.io/v1alpha1/namespaces/${policy.metadata.namespace}/propagationpolicies`,
          policy,
        );
        expect(created.metadata.name).toBe(policy.metadata.name);
        expect(await karmada.get("/apis/cluster.karmada.io/v1alpha1/clusters")).toMatchObject({ items: [] });
      } finally {
        karmada.close();
      }
    });

    it("refuses a second install of the same name, as Helm does", async () => {
      await expect(installKarmadaRelease(request(nodePort))).rejects.toThrow(
        /cannot re-use a name that is still in use/,
      );
    });

    it("uninstalls as helm uninstall does: processes stopped, Secrets deleted, etcd's hostPath data left", async () => {
      const pids = Object.values(JSON.parse(fs.readFileSync(pidsFile(), "utf8"))) as number[];
      await uninstallKarmadaRelease(request(nodePort));
      for (const name of ["karmada-cert", "karmada-webhook-cert", "karmada-kubeconfig"]) {
        expect((await secret(name)).status).toBe(404);
      }
      const records = await host.request(
        "GET",
        `/api/v1/namespaces/${KARMADA_NAMESPACE}/secrets?labelSelector=owner%3Dhelm`,
      );
      expect(records.body.items).toEqual([]);
      // helm uninstall leaves the namespace --create-namespace made.
      expect((await host.request("GET", `/api/v1/namespaces/${KARMADA_NAMESPACE}`)).status).toBe(200);
      await gone(pids);
      expect(fs.existsSync(path.join(etcdData(), "member"))).toBe(true);
      // etcd's pod went with its StatefulSet.
      const pods = await host.request("GET", `/api/v1/namespaces/${KARMADA_NAMESPACE}/pods?labelSelector=app%3Detcd`);
      expect(pods.body.items).toEqual([]);
      await expect(uninstallKarmadaRelease(request(nodePort))).rejects.toThrow(/release: not found/);
    }, 60_000);

    it("installs again on the same node; the old etcd data comes back with it (what etcd-data.sh removes)", async () => {
      await installKarmadaRelease(request(nodePort, 120));
      const karmada = await karmadaClient(nodePort);
      try {
        // New certificates, old data: the PropagationPolicy of the first install is served again (#5582's class).
        const old = await karmada.get(
          `/apis/policy.karmada.io/v1alpha1/namespaces/${policy.metadata.namespace}/propagationpolicies/${policy.metadata.name}`,
        );
        expect(old?.metadata?.name).toBe(policy.metadata.name);
      } finally {
        karmada.close();
      }
      const pids = Object.values(JSON.parse(fs.readFileSync(pidsFile(), "utf8"))) as number[];
      await uninstallKarmadaRelease(request(nodePort));
      await gone(pids);
    }, 180_000);

    it("fails within the timeout, naming what is not ready, when the API cannot listen (its port is taken)", async () => {
      const taken = net.createServer();
      const port = await freeNodePort();
      await new Promise<void>((resolve) => taken.listen(port, "0.0.0.0", resolve));
      try {
        const t0 = Date.now();
        await expect(installKarmadaRelease(request(port, 20))).rejects.toThrow(
          /not ready within 20 s: karmada-apiserver \(https:\/\/127\.0\.0\.1:\d+\) is not ready \(its process \d+ exited; log:[\s\S]*address already in use/,
        );
        expect(Date.now() - t0).toBeLessThan(40_000);
        const records = await host.request(
          "GET",
          `/api/v1/namespaces/${KARMADA_NAMESPACE}/secrets?labelSelector=owner%3Dhelm%2Cstatus%3Dfailed`,
        );
        expect(records.body.items).toHaveLength(1);
      } finally {
        taken.close();
      }
      const pids = Object.values(JSON.parse(fs.readFileSync(pidsFile(), "utf8"))) as number[];
      await uninstallKarmadaRelease(request(port));
      await gone(pids);
    }, 120_000);
  },
);
