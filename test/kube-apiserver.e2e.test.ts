/**
 * The program's Kubernetes objects against a real kube-apiserver (scripts/lib/kubeApiServer.ts): Debian's etcd and
 * the API server built by scripts/setup-kube-apiserver.sh. Where the unit tests check the objects against schemas,
 * this checks them against the API's own validation, defaulting and admission. Skipped, with its reason in its
 * name, when the build is not in the cache (see the README, "A real kube-apiserver").
 */
import * as fs from "node:fs";
import * as https from "node:https";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import {
  ADVERTISE_ADDRESS,
  KUBE_APISERVER_VERSION,
  type KubeApiServer,
  kubeApiServerBinary,
  startKubeApiServer,
} from "../scripts/lib/kubeApiServer";
import { pipelineObjects } from "../components/vaccel/objects";
import { controlPlaneObjects, memberSideObjects } from "../components/karmada/join";

const binary = kubeApiServerBinary();
const present = fs.existsSync(binary);
const CRD_FILE = path.join(__dirname, "../components/karmada/fixtures/policy.karmada.io_propagationpolicies.yaml");

const pipelineArgs = {
  member: "edge",
  clientNode: "pi",
  gpuNode: "jetson",
  agentImage: "registry.example/vaccel-rpc-agent:0.6.1",
  appImage: "registry.example/yolo-vaccel@sha256:" + "a".repeat(64),
  port: 8192,
  backend: "local" as const,
};

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe.skipIf(!present)(
  `kube-apiserver ${KUBE_APISERVER_VERSION} with Debian's etcd` +
    (present ? "" : ` (skipped: no ${binary}; run scripts/setup-kube-apiserver.sh)`),
  () => {
    let api: KubeApiServer;

    beforeAll(async () => {
      api = await startKubeApiServer();
    }, 180_000);

    afterAll(async () => {
      await api?.stop();
    }, 60_000);

    it("answers as the version it was built from, behind the token and the CA it was given", async () => {
      const version = await api.request("GET", "/version");
      expect(version.status).toBe(200);
      expect(version.body.gitVersion).toBe(KUBE_APISERVER_VERSION);
      const kubeconfig = parse(api.kubeconfig);
      expect(kubeconfig.clusters[0].cluster.server).toBe(api.url);
      expect(Buffer.from(kubeconfig.clusters[0].cluster["certificate-authority-data"], "base64").toString()).toBe(
        api.caPem,
      );
      expect(fs.statSync(api.kubeconfigPath).mode & 0o777).toBe(0o600);
      expect(fs.statSync(api.stateDir).mode & 0o777).toBe(0o700);
      // The serving certificate verifies against the CA; without the token the API refuses (--anonymous-auth=false).
      const anonymous = await new Promise<number>((resolve, reject) =>
        https
          .get(`${api.url}/version`, { ca: api.caPem }, (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          })
          .on("error", reject),
      );
      expect(anonymous).toBe(401);
    });

    it("publishes itself in the kubernetes Service's Endpoints, which reject a loopback address", async () => {
      // The endpoint reconciler writes them shortly after /readyz; bounded wait.
      let endpoints = await api.request("GET", "/api/v1/namespaces/default/endpoints/kubernetes");
      for (let i = 0; i < 60 && endpoints.status === 404; i++) {
        await new Promise((r) => setTimeout(r, 250));
        endpoints = await api.request("GET", "/api/v1/namespaces/default/endpoints/kubernetes");
      }
      expect(endpoints.status).toBe(200);
      expect(endpoints.body.subsets[0].addresses).toEqual([{ ip: ADVERTISE_ADDRESS }]);
    });

    it("accepts the vAccel pipeline as the program builds it, then the backend switch as a replace", async () => {
      const p = pipelineObjects(pipelineArgs);
      for (const obj of [p.namespace, p.configMap, p.agent, p.service, p.app]) {
        const r = await api.create(obj);
        expect(r.status, `${obj.kind} ${obj.metadata?.name}: ${r.body?.message}`).toBe(201);
      }
      const service = await api.get(p.service);
      expect(service.body.spec.clusterIP).toMatch(/^198\.19\.240\.\d+$/);
      const app = await api.get(p.app);
      // The API's defaulting ran: the program's Recreate strategy kept, the unset fields filled in.
      expect(app.body.spec.strategy).toEqual({ type: "Recreate" });
      expect(app.body.spec.template.spec.restartPolicy).toBe("Always");

      // `backend remote` replaces the ConfigMap and the app (the pod-template hash changes): both must be accepted.
      const remote = pipelineObjects({ ...pipelineArgs, backend: "remote" });
      const cm = await api.get(remote.configMap);
      const put = async (obj: typeof remote.configMap | typeof remote.app, resourceVersion: string) =>
        api.request("PUT", `${await api.collectionPath(obj)}/${obj.metadata!.name}?fieldValidation=Strict`, {
          ...obj,
          metadata: { ...obj.metadata, resourceVersion },
        });
      expect((await put(remote.configMap, cm.body.metadata.resourceVersion)).status).toBe(200);
      const replaced = await put(remote.app, app.body.metadata.resourceVersion);
      expect(replaced.status, replaced.body?.message).toBe(200);
      expect(replaced.body.metadata.generation).toBe(app.body.metadata.generation + 1);
      expect((await api.get(remote.configMap)).body.data).toEqual(remote.configMap.data);
    });

    it("serves Karmada v1.13.0's PropagationPolicy CRD and accepts the pipeline's policy, with the CRD's defaults", async () => {
      await api.installCrd(parse(fs.readFileSync(CRD_FILE, "utf8")));
      const { policy } = pipelineObjects(pipelineArgs);
      const r = await api.create(policy);
      expect(r.status, r.body?.message).toBe(201);
      // The structural schema's defaults were applied (policy_types.go's +kubebuilder:default markers).
      expect(r.body.spec.conflictResolution).toBe("Abort");
      expect(r.body.spec.preemption).toBe("Never");
      expect(r.body.spec.resourceSelectors).toEqual(policy.spec.resourceSelectors);
      expect(r.body.spec.placement.clusterAffinity).toEqual({ clusterNames: ["edge"] });
    });

    it("accepts what karmadactl join creates on a member, and the control-plane Secrets", async () => {
      const member = memberSideObjects("edge");
      for (const obj of Object.values(member)) {
        const r = await api.create(obj);
        expect(r.status, `${obj.kind} ${obj.metadata?.name}: ${r.body?.message}`).toBe(201);
      }
      // No controller-manager runs, so the token Secrets stay empty: the data is made up, the shapes are the program's.
      const data = { "ca.crt": Buffer.from("ca").toString("base64"), token: Buffer.from("t").toString("base64") };
      const cp = controlPlaneObjects({
        cluster: "edge",
        apiEndpoint: "https://198.18.0.10:6443",
        clusterId: "00000000-0000-0000-0000-000000000001",
        memberToken: data,
        impersonatorToken: data,
      });
      // Same namespace as the member side's (karmada-cluster): it exists already here.
      expect((await api.create(cp.namespace)).status).toBe(409);
      for (const obj of [cp.impersonatorSecret, cp.secret]) {
        const r = await api.create(obj);
        expect(r.status, `${obj.kind} ${obj.metadata?.name}: ${r.body?.message}`).toBe(201);
      }
    });

    it("rejects what its validation rejects: a selector that misses the pod labels, a policy off the CRD's schema, an unknown field", async () => {
      const { app, policy } = pipelineObjects(pipelineArgs);
      const badDeployment = {
        ...app,
        metadata: { ...app.metadata, name: "bad-selector" },
        spec: { ...app.spec!, selector: { matchLabels: { "app.kubernetes.io/name": "something-else" } } },
      };
      const d = await api.create(badDeployment);
      expect(d.status).toBe(422);
      expect(d.body.reason).toBe("Invalid");
      expect(d.body.message).toContain("`selector` does not match template `labels`");

      const badPolicy = {
        ...policy,
        metadata: { ...policy.metadata, name: "bad-policy" },
        spec: { ...policy.spec, resourceSelectors: [{ apiVersion: "v1", name: "no-kind" }] },
      };
      const pp = await api.create(badPolicy);
      expect(pp.status).toBe(422);
      expect(pp.body.message).toContain("spec.resourceSelectors[0].kind: Required value");

      const unknownField = {
        ...policy,
        metadata: { ...policy.metadata, name: "typo" },
        spec: { ...policy.spec, placment: {} },
      };
      const typo = await api.create(unknownField);
      expect(typo.status).toBe(400);
      expect(typo.body.message).toContain('unknown field "spec.placment"');

      // NamespaceLifecycle admission: nothing lands in a namespace that does not exist.
      const orphan = pipelineObjects(pipelineArgs).configMap;
      const o = await api.create({ ...orphan, metadata: { ...orphan.metadata, namespace: "no-such-namespace" } });
      expect(o.status).toBe(404);
      expect(o.body.message).toContain('namespaces "no-such-namespace" not found');
    });

    it("stops both processes and leaves no state behind", async () => {
      const { pids, stateDir } = api;
      expect(processAlive(pids.etcd) && processAlive(pids.apiserver)).toBe(true);
      await api.stop();
      expect(processAlive(pids.etcd)).toBe(false);
      expect(processAlive(pids.apiserver)).toBe(false);
      expect(fs.existsSync(stateDir)).toBe(false);
      await api.stop(); // twice is harmless
    });
  },
);
