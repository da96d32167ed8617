/**
 * `testbed backend` (and `testbed reset`) against a real kube-apiserver serving as the Karmada API: Debian's etcd,
 * the API server built by scripts/setup-kube-apiserver.sh, Karmada v1.13.0's PropagationPolicy and Cluster kinds,
 * and the pipeline created as the program creates it. Karmada's controllers do not run: scripts/lib/karmadaDouble.ts
 * plays the member and writes the aggregated status onto the templates as Karmada does. The commands run as the
 * operator runs them (the CLI in its own process) with --karmada-kubeconfig pointing at this API. Skipped, with its
 * reason in its name, when the build is not in the cache (see the README, "A real kube-apiserver").
 */
import { execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
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
import { AGENT_NAME, BACKEND_HASH_ANNOTATION, pipelineObjects } from "../components/vaccel/objects";
import { backendConfigData, backendConfigHash } from "../components/vaccel/backend";
import { clusterPath, pathOf, pipelineArgsOf } from "../scripts/lib/demo";
import { loadStackSpec } from "../scripts/lib/hosts";
import { kubeClient, kubeTarget } from "../scripts/lib/kubeClient";
import { RESTARTED_AT_ANNOTATION, preflightOf, runReset } from "../scripts/commands/reset";
import { examine, readPage } from "../scripts/commands/doctor";
import {
  type KarmadaDouble,
  etcdUrlOf,
  seedDemo,
  setClusterReady as setClusterReadyIn,
} from "../scripts/lib/karmadaDouble";

const binary = kubeApiServerBinary();
const present = fs.existsSync(binary);
const REPO = path.join(__dirname, "..");

/** The sim stack with pinned images (the pipeline's objects need real references), in a directory of its own. */
function demoStack(): string {
  const doc = parse(fs.readFileSync(path.join(REPO, "stacks/Pulumi.sim.yaml"), "utf8"));
  doc.config["testbed:vaccel"] = {
    ...doc.config["testbed:vaccel"],
    agentImage: "registry.example/vaccel-rpc-agent:0.6.1",
    appImage: `registry.example/yolo-vaccel@sha256:${"a".repeat(64)}`,
    backend: "local",
  };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "testbed-demo-stack-"));
  fs.mkdirSync(path.join(dir, "stacks"));
  // The spec checks its key files exist; nothing here connects with them (no host runs in this test).
  fs.mkdirSync(path.join(dir, ".sim/keys"), { recursive: true });
  fs.mkdirSync(path.join(dir, ".sim/hostkeys"));
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", path.join(dir, ".sim/keys/id_ed25519")]);
  for (const h of ["nuc", "pi", "jetson"])
    fs.copyFileSync(path.join(dir, ".sim/keys/id_ed25519.pub"), path.join(dir, `.sim/hostkeys/${h}.pub`));
  fs.writeFileSync(path.join(dir, ".sim/keys/pi-sudo-password"), "not-used\n", { mode: 0o600 });
  const file = path.join(dir, "stacks", "Pulumi.demo.yaml");
  fs.writeFileSync(file, stringify(doc));
  return file;
}

/** The CLI in its own process (async: the Karmada double runs in this one meanwhile). */
function cli(...args: string[]): Promise<{ status: number; stdout: string; stderr: string; ms: number }> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(REPO, "scripts/testbed.js"), ...args], { cwd: REPO });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ status: code ?? -1, stdout, stderr, ms: Date.now() - t0 }));
  });
}

describe.skipIf(!present)(
  `backend and reset against kube-apiserver ${KUBE_APISERVER_VERSION} as the Karmada API` +
    (present ? "" : ` (skipped: no ${binary}; run scripts/setup-kube-apiserver.sh)`),
  () => {
    let api: KubeApiServer;
    let double: KarmadaDouble;
    let stackFile: string;
    const args = () => pipelineArgsOf(loadStackSpec({ file: stackFile }));
    const p = () => pipelineObjects(args());
    const get = async (o: Parameters<typeof pathOf>[0]) => (await api.request("GET", pathOf(o))).body;
    const setClusterReady = (ready: boolean) => setClusterReadyIn(api, "edge", ready);
    /** resourceVersion of every object of the pipeline and the Cluster: equal before and after means untouched. */
    const versions = async () => {
      const out: Record<string, string> = {};
      for (const o of Object.values(p()))
        out[`${o.kind}/${o.metadata?.name}`] = (await get(o)).metadata.resourceVersion;
      out.Cluster = (await api.request("GET", clusterPath("edge"))).body.metadata.resourceVersion;
      return out;
    };
    const backend = (target: string, ...more: string[]) =>
      cli("backend", target, "--file", stackFile, "--karmada-kubeconfig", api.kubeconfigPath, ...more);

    beforeAll(async () => {
      stackFile = demoStack();
      api = await startKubeApiServer();
      double = await seedDemo(api, args());
    }, 180_000);

    afterAll(async () => {
      await double?.stop();
      await api?.stop();
      if (stackFile !== undefined) fs.rmSync(path.dirname(path.dirname(stackFile)), { recursive: true, force: true });
    }, 60_000);

    it("starts as the program leaves it: backend local, both Deployments rolled out by the aggregated status", async () => {
      const { agent, app, configMap } = p();
      expect((await get(configMap)).data).toEqual(backendConfigData("local", AGENT_NAME, 8192));
      // Karmada's claim is on every template: what reset must not take for drift.
      expect((await get(configMap)).metadata.annotations).toEqual({
        "propagationpolicy.karmada.io/namespace": "vaccel-demo",
        "propagationpolicy.karmada.io/name": "vaccel-pipeline",
      });
      for (const d of [agent, app]) {
        const live = await get(d);
        // The claim's annotations bumped the generation (a Deployment's generation counts annotation changes too).
        expect(live.metadata.generation).toBe(2);
        expect(live.status).toMatchObject({
          observedGeneration: 2,
          replicas: 1,
          updatedReplicas: 1,
          availableReplicas: 1,
        });
      }
    });

    it("backend remote: changes the ConfigMap and rolls the app, waits for its aggregated status, never writes the agent", async () => {
      const { agent, app, configMap } = p();
      const before = await versions();
      const appBefore = await get(app);
      const r = await backend("remote");
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^before: local: VACCEL_LOG_LEVEL=4 VACCEL_PLUGINS=libvaccel-torch\.so$/m);
      expect(r.stdout).toMatch(/^changed ConfigMap vaccel-demo\/vaccel-backend$/m);
      const g = appBefore.metadata.generation + 1;
      expect(r.stdout).toContain(
        `changed Deployment vaccel-demo/object-detection: pod template ${BACKEND_HASH_ANNOTATION}=`,
      );
      expect(r.stdout).toContain(` (generation ${g})\n`);
      expect(r.stdout).toContain(
        `waiting up to 180 s for Deployment vaccel-demo/object-detection to run generation ${g} on edge`,
      );
      expect(r.stdout).toMatch(
        /^after: remote: VACCEL_LOG_LEVEL=3 VACCEL_PLUGINS=libvaccel-rpc\.so VACCEL_RPC_ADDRESS=tcp:\/\/vaccel-rpc-agent:8192$/m,
      );
      expect(r.stdout).toMatch(/^backend remote in \d+\.\d s$/m);
      // It read the aggregate before the member had synced (the double's first step comes later), ...
      expect(r.stdout).toContain(`\n  generation ${g} not yet observed on every member (at ${g - 1})\n`);
      expect(r.stdout).toContain(`\n  generation ${g} observed, 1/1 replicas updated and available\n`);
      // ... and returned only once the aggregate showed the new generation rolled out.
      const live = await get(app);
      expect(live.metadata.generation).toBe(appBefore.metadata.generation + 1);
      expect(live.status).toMatchObject({
        observedGeneration: live.metadata.generation,
        updatedReplicas: 1,
        availableReplicas: 1,
      });
      const remote = backendConfigData("remote", AGENT_NAME, 8192);
      expect(live.spec.template.metadata.annotations[BACKEND_HASH_ANNOTATION]).toBe(backendConfigHash(remote));
      const cm = await get(configMap);
      expect(cm.data).toEqual(remote);
      expect(cm.metadata.managedFields.map((f: { manager: string }) => f.manager)).toContain("testbed-cli");
      const after = await versions();
      expect(after[`Deployment/${agent.metadata?.name}`]).toBe(before[`Deployment/${agent.metadata?.name}`]);
      expect(after["Service/vaccel-rpc-agent"]).toBe(before["Service/vaccel-rpc-agent"]);
      expect(after["PropagationPolicy/vaccel-pipeline"]).toBe(before["PropagationPolicy/vaccel-pipeline"]);
    });

    it("backend remote again: says so, changes nothing, exits 0", async () => {
      const before = await versions();
      const r = await backend("remote");
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toBe(
        "before: remote: VACCEL_LOG_LEVEL=3 VACCEL_PLUGINS=libvaccel-rpc.so VACCEL_RPC_ADDRESS=tcp://vaccel-rpc-agent:8192\nalready on remote: nothing changed\n",
      );
      expect(await versions()).toEqual(before);
    });

    it("backend remote with the agent down: exits 2 before any change, naming why", async () => {
      await backend("local");
      const { agent } = p();
      double.setHealthy(pathOf(agent), false);
      for (let i = 0; i < 100 && ((await get(agent)).status.availableReplicas ?? 0) > 0; i++)
        await new Promise((r) => setTimeout(r, 100));
      const before = await versions();
      const r = await backend("remote");
      expect(r.status).toBe(2);
      expect(r.stdout).toBe("");
      expect(r.stderr).toBe(
        "testbed: backend remote: the GPU agent is not Ready, so nothing was changed:\n  Deployment vaccel-demo/vaccel-rpc-agent: 0 of 1 replicas available\n",
      );
      expect(await versions()).toEqual(before);
      double.setHealthy(pathOf(agent), true);
      for (let i = 0; i < 100 && ((await get(agent)).status.availableReplicas ?? 0) < 1; i++)
        await new Promise((r) => setTimeout(r, 100));
    });

    it("backend remote with the member cluster not Ready: exits 2 before any change, with Karmada's reason", async () => {
      await setClusterReady(false);
      const before = await versions();
      const r = await backend("remote");
      expect(r.status).toBe(2);
      expect(r.stderr).toBe(
        "testbed: backend remote: the GPU agent is not Ready, so nothing was changed:\n  member cluster edge is not Ready (Ready=False, ClusterNotReachable: cluster is not reachable)\n",
      );
      expect(await versions()).toEqual(before);
      await setClusterReady(true);
    });

    it("a Karmada API that does not answer: exits 2 naming its host and port, nothing changed", async () => {
      const port = await freePort();
      const kc = parse(api.kubeconfig);
      kc.clusters[0].cluster.server = `https://127.0.0.1:${port}`;
      const file = path.join(api.stateDir, "unreachable.kubeconfig");
      fs.writeFileSync(file, stringify(kc), { mode: 0o600 });
      const before = await versions();
      const r = await cli("backend", "remote", "--file", stackFile, "--karmada-kubeconfig", file);
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(
        new RegExp(
          `^testbed: the Karmada API at 127\\.0\\.0\\.1:${port} does not answer \\(ECONNREFUSED .*\\): backend remote: nothing was changed\\n$`,
        ),
      );
      expect(await versions()).toEqual(before);
    });

    it("a kubeconfig the API does not accept (another CA, a wrong token): exits 2 saying which, nothing changed", async () => {
      const before = await versions();
      const write = (change: (kc: Record<string, any>) => void) => {
        const kc = parse(api.kubeconfig);
        change(kc);
        const file = path.join(api.stateDir, `bad-${Math.random().toString(36).slice(2)}.kubeconfig`);
        fs.writeFileSync(file, stringify(kc), { mode: 0o600 });
        return file;
      };
      const hostPort = new URL(api.url).host;
      const otherCa = write((kc) => {
        const pem = execFileSync("openssl", [
          "req",
          "-x509",
          "-newkey",
          "ec",
          "-pkeyopt",
          "ec_paramgen_curve:prime256v1",
          "-nodes",
          "-keyout",
          "/dev/null",
          "-subj",
          "/CN=other",
          "-days",
          "1",
        ]);
        kc.clusters[0].cluster["certificate-authority-data"] = pem.toString("base64");
      });
      const tls = await cli("backend", "remote", "--file", stackFile, "--karmada-kubeconfig", otherCa);
      expect(tls.status).toBe(2);
      expect(tls.stderr).toMatch(
        new RegExp(
          `^testbed: the Karmada API at ${hostPort.replace(/\./g, "\\.")}: the TLS connection failed, its certificate is not the one the kubeconfig trusts \\(.+\\): backend remote: nothing was changed\\n$`,
        ),
      );
      const badToken = write((kc) => {
        kc.users[0].user.token = "not-the-token";
      });
      const denied = await cli("reset", "--file", stackFile, "--karmada-kubeconfig", badToken);
      expect(denied.status).toBe(2);
      expect(denied.stderr).toBe(
        "testbed: the Karmada API refused a request (HTTP 401: Unauthorized): reset: nothing was changed\n",
      );
      expect(denied.stderr).not.toContain("not-the-token");
      expect(await versions()).toEqual(before);
    });

    it("a stack other than sim without the Pulumi CLI on PATH: exits 2 saying so", async () => {
      const r = await new Promise<{ status: number; stderr: string }>((resolve) => {
        const child = spawn(
          process.execPath,
          [path.join(REPO, "scripts/testbed.js"), "backend", "remote", "--file", stackFile],
          {
            cwd: REPO,
            env: { ...process.env, PATH: "/nonexistent" },
          },
        );
        let stderr = "";
        child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
        child.on("close", (code) => resolve({ status: code ?? -1, stderr }));
      });
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(
        /^testbed: stack demo: its outputs come from the Pulumi CLI, and there is no `pulumi` on PATH/,
      );
    });

    it("backend local from remote: drops the RPC address, rolls the app back", async () => {
      expect((await backend("remote")).status).toBe(0);
      const r = await backend("local");
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^before: remote: /m);
      expect(r.stdout).toMatch(/^after: local: VACCEL_LOG_LEVEL=4 VACCEL_PLUGINS=libvaccel-torch\.so$/m);
      const { app, configMap } = p();
      expect((await get(configMap)).data).toEqual(backendConfigData("local", AGENT_NAME, 8192));
      expect((await get(app)).spec.template.metadata.annotations[BACKEND_HASH_ANNOTATION]).toBe(
        backendConfigHash(backendConfigData("local", AGENT_NAME, 8192)),
      );
    });

    describe("reset", () => {
      /** The pre-flight's etcd part, as doctor judges it, on the real etcd under this kube-apiserver. */
      const etcd = async () => {
        const url = etcdUrlOf(api);
        const spec = loadStackSpec({ file: stackFile });
        const page = await readPage(`${url}/metrics`);
        return preflightOf(
          examine([{ source: "kube-apiserver-test", text: page }], [], {
            warnMs: spec.diskGate.warnMs,
            failMs: spec.diskGate.failMs,
          }),
        );
      };
      const reset = async (dryRun: boolean) => {
        const client = kubeClient(kubeTarget(api.kubeconfig, "test"));
        try {
          return await runReset(client, args(), { dryRun, etcd });
        } finally {
          client.close();
        }
      };

      it("--dry-run lists every drift and the restart, and changes nothing", async () => {
        // The demo's end: backend remote; and some hands on the objects.
        expect((await backend("remote")).status).toBe(0);
        const { app, agent, policy, service } = p();
        const patch = async (o: Parameters<typeof pathOf>[0], body: object) => {
          const r = await api.request("PATCH", pathOf(o), body);
          expect(r.status, r.body?.message).toBe(200);
        };
        await patch(policy, { spec: { placement: { clusterAffinity: { clusterNames: ["elsewhere"] } } } });
        await patch(app, { spec: { template: { spec: { nodeSelector: { "kubernetes.io/arch": "arm64" } } } } });
        await patch(agent, { spec: { replicas: 2 } });
        expect((await api.request("DELETE", pathOf(service))).status).toBe(200);
        await double.settled();
        const before = await versions();
        const r = await reset(true);
        expect(await versions()).toEqual(before);
        expect(r.changes.map((c) => `${c.action} ${c.object.kind}`)).toEqual([
          "update ConfigMap",
          "create Service",
          "update PropagationPolicy",
          "update Deployment",
          "update Deployment",
        ]);
        expect(r.lines.slice(0, 7)).toEqual([
          "backend: remote -> local (the stack declares local)",
          "would change (dry run: nothing is changed):",
          "  ConfigMap vaccel-demo/vaccel-backend: restore data.VACCEL_PLUGINS, data.VACCEL_LOG_LEVEL, data.VACCEL_RPC_ADDRESS (not declared)",
          "  Service vaccel-demo/vaccel-rpc-agent: missing: create it",
          "  PropagationPolicy vaccel-demo/vaccel-pipeline: restore spec.placement.clusterAffinity.clusterNames",
          "  Deployment vaccel-demo/vaccel-rpc-agent: restore spec.replicas",
          `  Deployment vaccel-demo/object-detection: restore spec.template.metadata.annotations.${BACKEND_HASH_ANNOTATION}, spec.template.spec.nodeSelector.kubernetes.io/arch (not declared); restart its pods`,
        ]);
        expect(r.lines).toContain("pre-flight:");
        expect(r.lines.at(-1)).toBe("the pre-flight passes; 5 changes listed, none made (dry run)");
        expect(r.exitCode).toBe(0);
      });

      it("restores what drifted, creates what is missing, restarts the app's pods, and says ready for the demo", async () => {
        const { app, agent, configMap, policy, service } = p();
        const appBefore = await get(app);
        const r = await reset(false);
        expect(r.exitCode, r.lines.join("\n")).toBe(0);
        expect(r.lines[1]).toBe("changes:");
        expect(r.lines.at(-1)).toMatch(/^ready for the demo \(reset in \d+\.\d s\)$/);
        expect(r.lines).toContain("  GPU agent: Ready on edge");
        expect(
          r.lines.some((l) => /^ {2}etcd: etcd is healthy \(worst WAL fsync p99 .* on kube-apiserver-test\)$/.test(l)),
        ).toBe(true);
        const declared = p();
        expect((await get(configMap)).data).toEqual(declared.configMap.data);
        expect((await get(policy)).spec.placement.clusterAffinity).toEqual({ clusterNames: ["edge"] });
        expect((await get(agent)).spec.replicas).toBe(1);
        expect((await get(service)).spec.ports).toEqual([
          { name: "rpc", port: 8192, targetPort: "rpc", protocol: "TCP" },
        ]);
        const live = await get(app);
        expect(live.spec.template.spec.nodeSelector).toEqual({ "kubernetes.io/hostname": "pi" });
        const annotations = live.spec.template.metadata.annotations;
        expect(annotations[BACKEND_HASH_ANNOTATION]).toBe(
          declared.app.spec?.template.metadata?.annotations?.[BACKEND_HASH_ANNOTATION],
        );
        // Fresh pods: the restart annotation as kubectl writes it, one new generation, rolled out on the member.
        expect(annotations[RESTARTED_AT_ANNOTATION]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
        expect(live.metadata.generation).toBe(appBefore.metadata.generation + 1);
        expect(live.status).toMatchObject({
          observedGeneration: live.metadata.generation,
          updatedReplicas: 1,
          availableReplicas: 1,
        });
      });

      it("run again: only the restart is left to do, and the app gets fresh pods again", async () => {
        const dry = await reset(true);
        expect(dry.changes.map((c) => `${c.action} ${c.object.kind}`)).toEqual(["restart Deployment"]);
        const before = (await get(p().app)).spec.template.metadata.annotations[RESTARTED_AT_ANNOTATION];
        const r = await reset(false);
        expect(r.exitCode).toBe(0);
        expect((await get(p().app)).spec.template.metadata.annotations[RESTARTED_AT_ANNOTATION]).not.toBe(before);
      });

      it("the pre-flight fails (exit 1) when the GPU agent is not Ready, and cannot judge (exit 2) without etcd figures", async () => {
        double.setHealthy(pathOf(p().agent), false);
        for (let i = 0; i < 100 && ((await get(p().agent)).status.availableReplicas ?? 0) > 0; i++)
          await new Promise((r) => setTimeout(r, 100));
        const r = await reset(true);
        expect(r.exitCode).toBe(1);
        expect(r.lines).toContain("  GPU agent: Deployment vaccel-demo/vaccel-rpc-agent: 0 of 1 replicas available");
        expect(r.lines.at(-1)).toBe("not ready for the demo: see above");
        double.setHealthy(pathOf(p().agent), true);
        for (let i = 0; i < 100 && ((await get(p().agent)).status.availableReplicas ?? 0) < 1; i++)
          await new Promise((r) => setTimeout(r, 100));
        const client = kubeClient(kubeTarget(api.kubeconfig, "test"));
        const logsOnly = await runReset(client, args(), {
          dryRun: true,
          etcd: async () => preflightOf(examine([], [{ source: "etcd log", text: "" }], { warnMs: 10, failMs: 100 })),
        });
        client.close();
        expect(logsOnly.exitCode).toBe(2);
        expect(logsOnly.lines.at(-1)).toBe("cannot judge whether it is ready for the demo: see above");
      });
    });
  },
);
