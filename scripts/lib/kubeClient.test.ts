import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { ApiUnreachable, kubeClient, kubeTarget, objectPath } from "./kubeClient";
import { freePort } from "./kubeApiServer";

const b64 = (s: string) => Buffer.from(s).toString("base64");
const kubeconfig = (server: string, user: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [
      { name: "karmada-apiserver", cluster: { server, "certificate-authority-data": b64("CA PEM"), ...extra } },
      { name: "other", cluster: { server: "https://198.18.0.99:6443" } },
    ],
    users: [{ name: "karmada-apiserver", user }],
    contexts: [
      { name: "karmada-apiserver", context: { cluster: "karmada-apiserver", user: "karmada-apiserver" } },
      { name: "other", context: { cluster: "other", user: "karmada-apiserver" } },
    ],
    "current-context": "karmada-apiserver",
  });

describe("kubeTarget", () => {
  it("reads the current context's server, CA and client certificate (the chart's karmada-kubeconfig shape)", () => {
    const t = kubeTarget(
      kubeconfig("https://198.19.0.20:32644", {
        "client-certificate-data": b64("CERT"),
        "client-key-data": b64("KEY"),
      }),
      "k",
    );
    expect(t).toEqual({
      server: "https://198.19.0.20:32644",
      hostPort: "198.19.0.20:32644",
      ca: "CA PEM",
      cert: "CERT",
      key: "KEY",
      token: undefined,
      insecure: false,
    });
  });
  it("reads a token, a named context, the default port and the insecure flag", () => {
    const text = kubeconfig("https://karmada.example/", { token: "s3cret" }, { "insecure-skip-tls-verify": true });
    expect(kubeTarget(text, "k")).toMatchObject({
      server: "https://karmada.example",
      hostPort: "karmada.example:443",
      token: "s3cret",
      insecure: true,
    });
    expect(kubeTarget(text, "k", "other").hostPort).toBe("198.18.0.99:6443");
  });
  it("says what is wrong without quoting the kubeconfig", () => {
    expect(() => kubeTarget("{", "stack x: output karmadaKubeconfig")).toThrow(
      "stack x: output karmadaKubeconfig: not valid YAML",
    );
    expect(() => kubeTarget(kubeconfig("http://198.18.0.1:80", { token: "s3cret" }), "k")).toThrow(
      "k: the server http://198.18.0.1:80 is not https://",
    );
    expect(() => kubeTarget(kubeconfig("https://a:1", { token: "s3cret" }), "k", "nope")).toThrow(
      'k: no context "nope"',
    );
    try {
      kubeTarget(kubeconfig("nonsense", { token: "s3cret" }), "k");
    } catch (err) {
      expect((err as Error).message).toBe('k: context "karmada-apiserver" has no server URL');
      expect((err as Error).message).not.toContain("s3cret");
    }
  });
});

describe("kubeClient", () => {
  it("a refused connection is ApiUnreachable naming host and port", async () => {
    const port = await freePort();
    const client = kubeClient(kubeTarget(kubeconfig(`https://127.0.0.1:${port}`, { token: "t" }), "k"));
    const err = await client.get("/api/v1/namespaces").catch((e: unknown) => e);
    client.close();
    expect(err).toBeInstanceOf(ApiUnreachable);
    expect((err as ApiUnreachable).message).toMatch(
      new RegExp(`^127\\.0\\.0\\.1:${port} does not answer: ECONNREFUSED`),
    );
  });
});

describe("objectPath", () => {
  it("core and grouped, namespaced and cluster-scoped, with a subresource", () => {
    expect(objectPath({ apiVersion: "v1", resource: "configmaps", namespace: "ns", name: "a" })).toBe(
      "/api/v1/namespaces/ns/configmaps/a",
    );
    expect(
      objectPath({ apiVersion: "cluster.karmada.io/v1alpha1", resource: "clusters", name: "edge" }, "status"),
    ).toBe("/apis/cluster.karmada.io/v1alpha1/clusters/edge/status");
  });
});
