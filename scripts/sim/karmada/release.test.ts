import { X509Certificate } from "node:crypto";
import { describe, expect, it } from "vitest";
import { karmadaHelmValues } from "../../../components/karmada/values";
import { coalesce, effectiveValues } from "./chart";
import { localNode } from "./node";
import { DEFAULT_TIMEOUT_S, chartCerts, installKarmadaRelease, releaseOf } from "./release";

const values = () => karmadaHelmValues({ hostAddress: "198.19.0.10", apiNodePort: 32443, etcdNode: "mgmt" });
const inputs = (over: Record<string, unknown> = {}) => ({
  name: "karmada",
  chart: "karmada",
  version: "1.13.0",
  namespace: "karmada-system",
  createNamespace: true,
  values: values(),
  timeout: 600,
  skipAwait: false,
  waitForJobs: true,
  ...over,
});

describe("releaseOf", () => {
  it("takes the program's Release", () => {
    const r = releaseOf(inputs());
    expect(r).toMatchObject({ name: "karmada", namespace: "karmada-system", timeout: 600, createNamespace: true });
    expect(r.values.apiServer.nodePort).toBe(32443);
  });

  it("defaults the timeout as pulumi-kubernetes does", () => {
    expect(releaseOf(inputs({ timeout: undefined })).timeout).toBe(DEFAULT_TIMEOUT_S);
  });

  it("reports every problem at once: another chart, another version", () => {
    expect(() => releaseOf(inputs({ chart: "nginx", version: "2.0.0" }))).toThrow(
      /chart: "nginx" is not the chart the sim plays \(karmada\); version: "2.0.0" is not the chart version/,
    );
  });

  it("refuses to return before the wait it does not play (skipAwait, no waitForJobs)", () => {
    expect(() => releaseOf(inputs({ skipAwait: true, waitForJobs: false }))).toThrow(
      /skipAwait: true is not played by the sim \(only false\); waitForJobs: false is not played/,
    );
  });

  it("refuses values the sim does not play rather than ignoring them", () => {
    const v = { ...values(), etcd: { mode: "internal", internal: { storageType: "pvc" } } };
    expect(() => releaseOf(inputs({ values: v }))).toThrow(/etcd\.internal\.storageType: "pvc" is not played/);
  });
});

describe("installKarmadaRelease", () => {
  it("fails before touching anything when etcd is pinned to another node (the pod would stay Pending)", async () => {
    await expect(
      installKarmadaRelease({ inputs: inputs(), kubeconfig: "not read", node: localNode("other", "/nonexistent") }),
    ).rejects.toThrow(/pins etcd to node "mgmt", but the release was given node "other"/);
  });
});

describe("chartCerts", () => {
  it("makes the pre-install Job's certificates: a one-year CA, leaves of certs.auto.expiry with the hosts as SANs", async () => {
    // A smaller key than the chart's 3072 bits keeps the unit test fast; the e2e makes the chart's.
    const v = effectiveValues(coalesce(values(), { certs: { auto: { rsaSize: 2048 } } }));
    const c = await chartCerts(v, { name: "karmada", namespace: "karmada-system" });
    const ca = new X509Certificate(c.caCrt);
    const leaf = new X509Certificate(c.crt);
    const days = (x: X509Certificate) => Math.round((Date.parse(x.validTo) - Date.parse(x.validFrom)) / 86_400_000);
    expect(ca.ca).toBe(true);
    expect(days(ca)).toBe(365);
    expect(days(leaf)).toBe(1825);
    expect(leaf.verify(ca.publicKey)).toBe(true);
    expect(leaf.ca).toBe(false);
    expect(leaf.subject).toContain("CN=system:admin");
    expect(leaf.subject).toContain("O=system:masters");
    expect(leaf.subjectAltName).toContain("IP Address:198.19.0.10");
    expect(leaf.subjectAltName).toContain("DNS:*.etcd.karmada-system.svc.cluster.local");
    expect(leaf.keyUsage).toEqual(expect.arrayContaining(["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"]));
    expect(leaf.publicKey.asymmetricKeyDetails?.modulusLength).toBe(2048);
    const fp = new X509Certificate(c.frontProxyCrt);
    expect(fp.subject).toContain("CN=front-proxy-client");
    expect(fp.verify(new X509Certificate(c.frontProxyCaCrt).publicKey)).toBe(true);
  }, 30_000);
});
