import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SIM_OUTPUTS_FILE, destroy, up } from "../../scripts/sim/engine";
import { simStackOutputs } from "../../scripts/lib/stackOutputs";
import * as realEngine from "../../scripts/sim/pulumiEngine";
import { type KubeClient, kubeClient, kubeTarget } from "../../scripts/lib/kubeClient";
import { loadState, overlayFiles, rebootHost, simDown, simUp } from "../../scripts/sim/hosts";
import { simAvailable } from "./helpers";

/** etcd and kube-apiserver of a k3s double's server, by what only their command lines hold (scripts/sim/k3sApi.ts). */
const API_PROCESSES = "serving-kube-apiserver\\.crt|--listen-client-urls=http://127\\.0\\.0\\.1:12379";
const apiProcesses = (): string[] =>
  spawnSync("pgrep", ["-af", API_PROCESSES], { encoding: "utf8" }).stdout.split("\n").filter(Boolean);

/** Python: listen on each port given, accept and close connections until killed. */
const LISTEN = `import socket, sys, threading
def serve(port):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("0.0.0.0", port)); s.listen()
    while True: s.accept()[0].close()
for p in sys.argv[1:]: threading.Thread(target=serve, args=(int(p),)).start()`;

/** Whether a TCP connection from here (the operator) to address:port opens within 5 s, and how long the answer took. */
function connects(address: string, port: number): { open: boolean; ms: number } {
  const started = Date.now();
  const r = spawnSync("bash", ["-c", `exec 3<>/dev/tcp/${address}/${port}`], { timeout: 5000 });
  return { open: r.status === 0, ms: Date.now() - started };
}

/** One client per cluster, from the `kubeconfigs` stack output as the CLI reads it (.sim/outputs.json). */
async function clients(): Promise<Record<string, KubeClient>> {
  // The real engine's module given directly: the CLI loads it lazily with require, which vitest does not resolve.
  const outputs = await simStackOutputs(SIM_OUTPUTS_FILE, () => realEngine);
  const kubeconfigs = outputs.kubeconfigs as Record<string, string>;
  return Object.fromEntries(
    Object.entries(kubeconfigs).map(([name, text]) => [name, kubeClient(kubeTarget(text, `cluster ${name}`))]),
  );
}

// Each k3s double's server runs a real kube-apiserver; the operator reaches it through the nuc, on 6443 only.
describe.runIf(simAvailable())("the sim's Kubernetes APIs, from the operator", () => {
  let upSeconds = 0;
  beforeAll(async () => {
    simDown();
    const started = Date.now();
    simUp();
    await up();
    upSeconds = (Date.now() - started) / 1000;
  }, 600_000);
  afterAll(() => simDown(), 120_000);

  it("each cluster's kubeconfig output lists the API's namespaces over https, the CA verified", async () => {
    process.stderr.write(`kube-api e2e: sim up (hosts and the mock engine's up) took ${upSeconds.toFixed(1)} s\n`);
    const all = await clients();
    expect(Object.keys(all).sort()).toEqual(["edge", "mgmt"]);
    const servers = { mgmt: "https://198.19.0.20:6443", edge: "https://198.19.0.21:6443" };
    for (const [name, client] of Object.entries(all)) {
      expect(client.target.server).toBe(servers[name as keyof typeof servers]);
      expect(client.target.insecure).toBe(false);
      expect(client.target.ca).toContain("BEGIN CERTIFICATE");
      const list = await client.get("/api/v1/namespaces");
      expect(list?.kind).toBe("NamespaceList");
      const names = (list?.items as { metadata: { name: string } }[]).map((n) => n.metadata.name);
      expect(names).toEqual(expect.arrayContaining(["default", "kube-system", "kube-public"]));
      client.close();
    }
    // Another cluster's CA does not verify this server: each data-dir has its own.
    const mixed = kubeClient({ ...all.edge.target, ca: all.mgmt.target.ca });
    await expect(mixed.get("/api/v1/namespaces")).rejects.toThrow(/198\.19\.0\.21:6443/);
    mixed.close();
  });

  it("the operator reaches the VMs' 6443 and NodePorts through the nuc, and nothing else: SSH fails at once", () => {
    expect(connects("198.19.0.21", 6443).open).toBe(true);
    // Listeners in the VM's network namespace on a NodePort and on a port outside the range: the nuc forwards the
    // first and rejects the second (a TCP reset: refused at once, not a timeout), as it rejects SSH.
    const listener = spawn("ip", ["netns", "exec", "tbs-k3s-cp", "python3", "-c", LISTEN, "30080", "2222"], {
      stdio: ["ignore", "pipe", "ignore"],
    });
    try {
      const deadline = Date.now() + 10_000;
      while (
        spawnSync("ip", ["netns", "exec", "tbs-k3s-cp", "ss", "-tlnH", "sport", "= :2222"], { encoding: "utf8" })
          .stdout === ""
      ) {
        if (Date.now() > deadline) throw new Error("the test listener did not start");
        spawnSync("sleep", ["0.1"]);
      }
      expect(connects("198.19.0.21", 30080).open).toBe(true);
      for (const port of [22, 2222, 9345, 12379]) {
        const r = connects("198.19.0.21", port);
        expect(r.open, `port ${port}`).toBe(false);
        expect(r.ms, `port ${port}`).toBeLessThan(2000);
      }
      // From the VM's own network, the same listener answers: the nuc's filter refused it, not the VM.
      expect(
        spawnSync("ip", ["netns", "exec", "tbs-k3s-cp", "bash", "-c", "exec 3<>/dev/tcp/198.19.0.21/2222"]).status,
      ).toBe(0);
    } finally {
      listener.kill();
    }
  });

  it("a rebooted VM brings its API back with the same CA and the same data", async () => {
    const before = (await clients()).edge;
    const ns = { apiVersion: "v1", kind: "Namespace", metadata: { name: "survives-reboot" } };
    expect((await before.post("/api/v1/namespaces", ns)).metadata.name).toBe("survives-reboot");
    before.close();
    rebootHost("k3s-cp");
    // The unit starts at boot; the API is back once its /readyz answers (bounded by the double's own timeouts).
    const after = (await clients()).edge;
    const deadline = Date.now() + 120_000;
    let got: Record<string, unknown> | undefined;
    for (;;) {
      got = await after.get("/api/v1/namespaces/survives-reboot").catch(() => undefined);
      if (got !== undefined || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    after.close();
    expect((got?.metadata as { name: string }).name).toBe("survives-reboot");
  }, 180_000);

  it("destroy uninstalls k3s: no etcd or kube-apiserver left, their data gone; sim down leaves no process", async () => {
    expect(apiProcesses()).toHaveLength(2 * 2);
    await destroy();
    expect(apiProcesses()).toEqual([]);
    for (const vm of ["k3s-cp", "karmada-host"]) {
      expect(overlayFiles(vm).filter((f) => f.startsWith("/var/lib/rancher/k3s/server/"))).toEqual([]);
      expect(overlayFiles(vm)).not.toContain("/etc/rancher/k3s/k3s.yaml");
    }
    await up();
    expect(apiProcesses()).toHaveLength(2 * 2);
    const hosts = loadState().hosts.length;
    expect(hosts).toBe(5);
    simDown();
    expect(apiProcesses()).toEqual([]);
    expect(spawnSync("ip", ["route", "show", "198.19.0.0/24"], { encoding: "utf8" }).stdout).toBe("");
    expect(fs.existsSync("/run/netns/tbs-nuc")).toBe(false);
  }, 600_000);
});
