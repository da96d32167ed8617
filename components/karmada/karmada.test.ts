import * as pulumi from "@pulumi/pulumi";
import { parse } from "yaml";
import { beforeAll, describe, expect, it } from "vitest";
import { type MockedResource, isSecret, setupMocks, unwrap } from "../../test/harness/mocks";
import { karmadaSchema } from "../spec/schema";
import { Karmada } from "./karmada";
import { chartValues, undeclaredValues } from "../../test/harness/karmadaSchemas";

const chartKubeconfig = `apiVersion: v1
kind: Config
clusters:
  - cluster:
      certificate-authority-data: KARMADACA
      server: https://karmada-apiserver.karmada-system.svc.cluster.local:5443
    name: karmada-apiserver
users:
  - user:
      client-key-data: KARMADAKEY
    name: karmada-apiserver
contexts:
  - context:
      cluster: karmada-apiserver
      user: karmada-apiserver
    name: karmada-apiserver
current-context: karmada-apiserver
`;

let created: MockedResource[];
beforeAll(() => {
  created = setupMocks((r) => {
    if (r.type === "kubernetes:helm.sh/v3:Release") return { status: { namespace: r.inputs.namespace } };
    if (r.type === "kubernetes:core/v1:Secret")
      return { data: { kubeconfig: Buffer.from(chartKubeconfig).toString("base64") } };
    return {};
  });
});

describe("Karmada", () => {
  const spec = karmadaSchema.parse({ cluster: "mgmt", members: ["edge"] });
  const make = () =>
    new Karmada("karmada", {
      spec,
      hostKubeconfig: pulumi.secret("apiVersion: v1\nclusters: []\n"),
      hostAddress: "198.18.0.20",
      etcdNode: "karmada-host",
    });

  it("installs chart 1.13.0 as a Release with checked values, through a provider on the host's kubeconfig", async () => {
    const k = make();
    await unwrap(k.apiKubeconfig);
    const provider = created.find((r) => r.type === "pulumi:providers:kubernetes");
    expect(provider?.name).toBe("karmada-host");
    const release = created.find((r) => r.type === "kubernetes:helm.sh/v3:Release");
    expect(release?.inputs).toMatchObject({
      name: "karmada",
      chart: "karmada",
      version: "1.13.0",
      repositoryOpts: { repo: spec.chartRepo },
      namespace: "karmada-system",
      createNamespace: true,
      // The schema's default, KARMADA_READY_TIMEOUT_S.
      timeout: 600,
      skipAwait: false,
      waitForJobs: true,
    });
    const values = release!.inputs.values as Record<string, unknown>;
    expect(undeclaredValues(values, chartValues())).toEqual([]);
    expect(values).toMatchObject({ apiServer: { serviceType: "NodePort", nodePort: 32644 }, components: ["search"] });
    // etcd pinned to the server, whose disk the gate measured (karmada/validate.ts allows agents on that ground).
    expect(values).toMatchObject({
      etcd: { internal: { storageType: "hostPath", nodeSelector: { "kubernetes.io/hostname": "karmada-host" } } },
    });
  });

  it("exports the API kubeconfig on the host's NodePort, as a secret", async () => {
    const k = make();
    expect(await isSecret(k.apiKubeconfig)).toBe(true);
    expect(parse(await unwrap(k.apiKubeconfig)).clusters[0].cluster.server).toBe("https://198.18.0.20:32644");
    expect(await unwrap(k.apiUrl)).toBe("https://198.18.0.20:32644");
  });

  it("bounds the Release's wait by testbed:karmada.timeouts.releaseSeconds", async () => {
    const slow = karmadaSchema.parse({ cluster: "mgmt", timeouts: { releaseSeconds: 1500 } });
    const k = new Karmada("slow", {
      spec: slow,
      hostKubeconfig: pulumi.secret("apiVersion: v1\nclusters: []\n"),
      hostAddress: "198.18.0.20",
      etcdNode: "karmada-host",
    });
    await unwrap(k.apiKubeconfig);
    expect(created.find((r) => r.name === "slow-chart")?.inputs).toMatchObject({ timeout: 1500 });
  });

  it("refuses an etcd path the chart would not use, before creating anything", () => {
    const before = created.length;
    expect(
      () =>
        new Karmada("bad", {
          spec: { ...spec, etcdPath: "/srv/etcd" },
          hostKubeconfig: "x",
          hostAddress: "198.18.0.20",
          etcdNode: "karmada-host",
        }),
    ).toThrow(/"\/srv\/etcd" is not where the Karmada chart keeps etcd/);
    expect(created.slice(before).filter((r) => r.name.startsWith("bad-"))).toEqual([]);
  });
});
