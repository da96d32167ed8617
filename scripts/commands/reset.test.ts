import { describe, expect, it } from "vitest";
import { plannedChanges, preflightOf, restartStamp, worst, RESTARTED_AT_ANNOTATION } from "./reset";
import { examine } from "./doctor";
import { pipelineObjects } from "../../components/vaccel/objects";
import * as fs from "node:fs";
import * as path from "node:path";
import { selfSignedCertificate } from "../../test/harness/certs";

const p = pipelineObjects({
  member: "edge",
  clientNode: "pi",
  gpuNode: "jetson",
  agentImage: "a:1",
  appImage: "b:2",
  port: 8192,
  backend: "local",
});
const declared = [p.namespace, p.configMap, p.agent, p.service, p.app, p.policy];
const asLive = (o: object) => ({
  ...structuredClone(o),
  metadata: { ...(o as { metadata: object }).metadata, resourceVersion: "5" },
});
const fixtures = path.join(__dirname, "../../components/etcd/fixtures");

describe("restartStamp", () => {
  it("is RFC 3339 to the second, as kubectl's time.RFC3339", () => {
    expect(restartStamp(new Date("2026-11-26T09:31:02.789Z"))).toBe("2026-11-26T09:31:02Z");
  });
});

describe("plannedChanges", () => {
  it("as declared: only the app's restart, with its resourceVersion as precondition", () => {
    const changes = plannedChanges(declared, declared.map(asLive), p.app, "2026-11-26T09:31:02Z");
    expect(changes).toHaveLength(1);
    expect(changes[0]).toMatchObject({ action: "restart", detail: "restart its pods" });
    expect(changes[0].body).toEqual({
      metadata: { resourceVersion: "5" },
      spec: { template: { metadata: { annotations: { [RESTARTED_AT_ANNOTATION]: "2026-11-26T09:31:02Z" } } } },
    });
  });
  it("a missing object is created whole; the app's drift and restart go in one patch", () => {
    const live = declared.map(asLive) as (Record<string, any> | undefined)[];
    live[3] = undefined;
    live[4]!.spec.replicas = 2;
    const changes = plannedChanges(declared, live, p.app, "t");
    expect(changes.map((c) => [c.action, c.object.kind, c.detail])).toEqual([
      ["create", "Service", "missing: create it"],
      ["update", "Deployment", "restore spec.replicas; restart its pods"],
    ]);
    expect(changes[0].body).toEqual(p.service);
    expect(changes[1].body).toMatchObject({
      spec: { replicas: 1, template: { metadata: { annotations: { [RESTARTED_AT_ANNOTATION]: "t" } } } },
    });
  });
});

describe("the pre-flight's verdict", () => {
  it("fail over unknown over ok", () => {
    expect(worst(["ok", "unknown", "fail"])).toBe("fail");
    expect(worst(["ok", "unknown"])).toBe("unknown");
    expect(worst(["ok", "ok"])).toBe("ok");
  });
  it("is doctor's: healthy ok, a slow disk fail with its findings, logs only unknown", () => {
    const page = (f: string) => [{ source: "k3s-cp", text: fs.readFileSync(path.join(fixtures, f), "utf8") }];
    const t = { warnMs: 10, failMs: 100 };
    // That page's WAL fsync p99 is 23 ms: healthy under a 50 ms warn limit, at risk under the default 10 ms.
    expect(preflightOf(examine(page("etcd-3.4.23-metrics-healthy.txt"), [], { warnMs: 50, failMs: 100 })).verdict).toBe(
      "ok",
    );
    expect(preflightOf(examine(page("etcd-3.4.23-metrics-healthy.txt"), [], t)).verdict).toBe("fail");
    const slow = preflightOf(examine(page("etcd-3.4.23-metrics-slow-150ms.txt"), [], t));
    expect(slow.verdict).toBe("fail");
    expect(slow.lines[0]).toMatch(/^etcd: etcd is sick, and the disk is the cause/);
    expect(slow.lines[1]).toMatch(/^ {2}✗ k3s-cp: WAL fsync p99 .* is above 100 ms/);
    expect(preflightOf(examine([], [{ source: "log", text: "" }], t)).verdict).toBe("unknown");
  });
  it("fails on an expired Karmada certificate; one about to expire is said, and the demo still runs today", () => {
    const page = [
      { source: "k3s-cp", text: fs.readFileSync(path.join(fixtures, "etcd-3.4.23-metrics-healthy.txt"), "utf8") },
    ];
    const t = { warnMs: 50, failMs: 100 };
    const certificates = [{ host: "karmada-host", key: "server-ca.crt", text: selfSignedCertificate("ca", 10) }];
    const soon = preflightOf(examine(page, [], t, { certificates }));
    expect(soon.verdict).toBe("ok");
    expect(soon.lines).toContain("Karmada's certificates: warn");
    expect(
      soon.lines.find((l) => l.startsWith("  ! karmada-host server-ca.crt: Karmada's CA expires on ")),
    ).toBeDefined();
    const later = preflightOf(
      examine(page, [], t, { certificates, now: new Date(Date.now() + 11 * 24 * 3600 * 1000) }),
    );
    expect(later.verdict).toBe("fail");
    expect(
      later.lines.find((l) => l.startsWith("  ✗ karmada-host server-ca.crt: Karmada's CA expired on ")),
    ).toBeDefined();
    const fine = preflightOf(
      examine(page, [], t, { certificates, now: new Date(Date.now() - 30 * 24 * 3600 * 1000 - 3600 * 1000) }),
    );
    expect(fine.verdict).toBe("ok");
    expect(fine.lines).toContain("Karmada's certificates: the soonest to expire has 40 days left");
    // Text that is no certificate gives no figure: it is named as not read.
    const junk = preflightOf(
      examine(page, [], t, { certificates: [{ host: "karmada-host", key: "karmada.crt", text: "not a certificate" }] }),
    );
    expect(junk.lines).toContain("Karmada's certificates: none could be read");
    expect(junk.lines.some((l) => l.startsWith("  not read: karmada-host karmada.crt: not a PEM certificate"))).toBe(
      true,
    );
  });
});
