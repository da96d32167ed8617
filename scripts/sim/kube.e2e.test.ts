/**
 * The sim engine's Kubernetes provider (kube.ts) and the deletion controllers double (deletion.ts) against a real
 * kube-apiserver: what pulumi-kubernetes sends, and what a destroy waits for. Skipped, with the reason in its name,
 * when the kube-apiserver build is not in the cache (README, "A real kube-apiserver").
 */
import * as fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type KubeApiServer, kubeApiServerBinary, startKubeApiServer } from "../lib/kubeApiServer";
import { type KubeApi, applyObject, deleteObject, getObject, kubeApi, newFieldManager, readObject } from "./kube";
import { runDeletionControllers } from "./deletion";

const binary = kubeApiServerBinary();
const present = fs.existsSync(binary);

describe.skipIf(!present)(
  "the sim's Kubernetes provider on a real kube-apiserver" + (present ? "" : ` (skipped: no ${binary})`),
  () => {
    let server: KubeApiServer;
    let api: KubeApi;
    beforeAll(async () => {
      server = await startKubeApiServer();
      api = kubeApi(server.kubeconfig, "test");
    });
    afterAll(async () => {
      api?.client.close();
      await server?.stop();
    });

    const ns = (name: string) => ({ apiVersion: "v1", kind: "Namespace", metadata: { name } });

    it("applies under its own field manager, retries a namespace that comes later, and reads by id", async () => {
      const manager = newFieldManager();
      expect(manager).toMatch(/^pulumi-kubernetes-[0-9a-f]{8}$/);
      const cm = { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "c", namespace: "late" }, data: { a: "1" } };
      // The namespace arrives 1.5 s later: the provider's retry (1 s, then 2 s) covers it.
      const created = applyObject(api, cm, manager);
      await new Promise((r) => setTimeout(r, 1500));
      await applyObject(api, ns("late"), newFieldManager());
      const live = await created;
      expect(live.data).toEqual({ a: "1" });
      expect((live.metadata.managedFields as { manager: string }[]).map((f) => f.manager)).toContain(manager);
      expect((await readObject(api, "v1", "ConfigMap", "late/c")).data).toEqual({ a: "1" });
      await expect(readObject(api, "v1", "ConfigMap", "late/none")).rejects.toThrow(/'late\/none' does not exist/);
    });

    it("fails on a field another manager owns unless pulumi.com/patchForce says so", async () => {
      const cm = (v: string, force = false) => ({
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: "owned", namespace: "late", annotations: force ? { "pulumi.com/patchForce": "true" } : {} },
        data: { k: v },
      });
      await applyObject(api, cm("cli"), "testbed-cli");
      await expect(applyObject(api, cm("program"), newFieldManager())).rejects.toThrow(/conflict/i);
      expect((await applyObject(api, cm("program", true), newFieldManager())).data).toEqual({ k: "program" });
    });

    it("waits for pulumi.com/waitFor, bounded by pulumi.com/timeoutSeconds, naming what it found", async () => {
      const waiting = {
        apiVersion: "v1",
        kind: "Secret",
        metadata: {
          name: "w",
          namespace: "late",
          annotations: { "pulumi.com/waitFor": "jsonpath={.data.token}", "pulumi.com/timeoutSeconds": "2" },
        },
      };
      await expect(applyObject(api, waiting, newFieldManager())).rejects.toThrow(
        /Secret late\/w .* timed out after 2 s waiting for jsonpath=\{\.data\.token\} \(found nothing\)/,
      );
      // Filled in meanwhile (as the token controller would), the same apply returns.
      const filled = applyObject(api, waiting, newFieldManager());
      await server.request("PATCH", "/api/v1/namespaces/late/secrets/w", { data: { token: "dG9r" } });
      expect((await filled).data).toEqual({ token: "dG9r" });
    });

    it("deletes in the foreground and waits until the object is gone: only the controllers finish it", async () => {
      await applyObject(api, ns("doomed"), newFieldManager());
      await applyObject(
        api,
        { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "x", namespace: "doomed" } },
        newFieldManager(),
      );
      const ref = { apiVersion: "v1", kind: "Namespace", name: "doomed" };
      // No controllers: the namespace stays Terminating and the bound runs out, naming the finalizer.
      await expect(deleteObject(api, ref, { "pulumi.com/timeoutSeconds": "2" })).rejects.toThrow(
        /timed out after 2 s; it is still there, held by the finalizers .*spec kubernetes/,
      );
      const stop = new AbortController();
      const log: string[] = [];
      const running = runDeletionControllers(api.client, {
        signal: stop.signal,
        log: (l) => log.push(l),
        intervalMs: 200,
      });
      try {
        const t0 = Date.now();
        await deleteObject(api, ref, { "pulumi.com/timeoutSeconds": "30" });
        expect(Date.now() - t0).toBeLessThan(10_000);
        expect(await getObject(api, ref)).toBeUndefined();
        expect(log).toEqual(expect.arrayContaining(["deleted ConfigMap doomed/x (its namespace doomed is deleted)"]));
        expect(log.some((l) => l.startsWith("finalized Namespace doomed"))).toBe(true);

        // An owner deleted in the foreground: its dependent goes first, then the owner loses its finalizer.
        const owner = await applyObject(
          api,
          { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "owner", namespace: "late" } },
          newFieldManager(),
        );
        await applyObject(
          api,
          {
            apiVersion: "v1",
            kind: "ConfigMap",
            metadata: {
              name: "dependent",
              namespace: "late",
              ownerReferences: [
                {
                  apiVersion: "v1",
                  kind: "ConfigMap",
                  name: "owner",
                  uid: owner.metadata.uid,
                  blockOwnerDeletion: true,
                },
              ],
            },
          },
          newFieldManager(),
        );
        await deleteObject(api, { apiVersion: "v1", kind: "ConfigMap", name: "owner", namespace: "late" });
        expect(
          await getObject(api, { apiVersion: "v1", kind: "ConfigMap", name: "dependent", namespace: "late" }),
        ).toBe(undefined);
      } finally {
        stop.abort();
        await running;
      }
    });

    it("the deletion controllers list nothing while nothing changes, and act at once on a change", async () => {
      // apiserver_request_total counts each request by verb; a pass lists every deletable kind (verb LIST), the
      // controllers' watches are WATCH requests.
      const lists = async () => {
        const r = await api.client.send("GET", "/metrics");
        return r.text
          .split("\n")
          .filter((l) => l.startsWith("apiserver_request_total{") && l.includes('verb="LIST"'))
          .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(" ") + 1)), 0);
      };
      const stop = new AbortController();
      const log: string[] = [];
      const running = runDeletionControllers(api.client, { signal: stop.signal, log: (l) => log.push(l) });
      try {
        // Started: every watch opens with its kind's objects, and a pass follows.
        await new Promise((r) => setTimeout(r, 4000));
        const before = await lists();
        await new Promise((r) => setTimeout(r, 3000));
        expect((await lists()) - before).toBe(0);
        // A namespace deleted now is finished within a couple of ticks, not at some poll.
        await applyObject(api, ns("quiet"), newFieldManager());
        await applyObject(
          api,
          { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "x", namespace: "quiet" } },
          newFieldManager(),
        );
        const t0 = Date.now();
        await deleteObject(
          api,
          { apiVersion: "v1", kind: "Namespace", name: "quiet" },
          {
            "pulumi.com/timeoutSeconds": "30",
          },
        );
        expect(Date.now() - t0).toBeLessThan(10_000);
        expect(log).toContain("deleted ConfigMap quiet/x (its namespace quiet is deleted)");
        expect((await lists()) - before).toBeGreaterThan(0);
      } finally {
        stop.abort();
        await running;
      }
    });

    it("awaits a Deployment as the provider's built-in awaiter does, unless waitFor replaces it", async () => {
      const deployment = (annotations: Record<string, string>) => ({
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: { name: "d", namespace: "late", annotations: { "pulumi.com/timeoutSeconds": "2", ...annotations } },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: "d" } },
          template: { metadata: { labels: { app: "d" } }, spec: { containers: [{ name: "c", image: "x:1" }] } },
        },
      });
      // No controller sets its status here: the built-in await waits for Available and NewReplicaSetAvailable.
      await expect(applyObject(api, deployment({}), newFieldManager())).rejects.toThrow(
        /Deployment late\/d .* timed out after 2 s waiting for observedGeneration none < generation 1/,
      );
      await expect(
        applyObject(api, deployment({ "pulumi.com/skipAwait": "true" }), newFieldManager()),
      ).resolves.toBeDefined();
    });
  },
);
