import { beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { isSecret, setupMocks, unwrap } from "../../test/harness/mocks";
import { karmadaOutputs } from "./outputs";

beforeAll(() => {
  setupMocks();
});

const k3s = (server: string, token: string) => `apiVersion: v1
kind: Config
clusters:
  - name: default
    cluster: { server: "${server}", certificate-authority-data: Q0E= }
users:
  - name: default
    user: { token: ${token} }
contexts:
  - name: default
    context: { cluster: default, user: default }
current-context: default
`;

describe("karmadaOutputs", () => {
  // Plain (not secret) inputs: the outputs must be secret all the same.
  const out = karmadaOutputs({
    karmadaApi: k3s("https://198.19.0.20:32644", "karmada-token"),
    karmadaHost: k3s("https://198.19.0.20:6443", "mgmt-token"),
    members: { edge: k3s("https://198.19.0.21:6443", "edge-token") },
  });

  it("are both secret", async () => {
    expect(await isSecret(out.karmadaKubeconfig)).toBe(true);
    expect(await isSecret(out.mlsysopsKubeconfig)).toBe(true);
  });

  it("give the Karmada API on its NodePort, and the merged file with karmada-apiserver, karmada-host and each member", async () => {
    expect(parse(await unwrap(out.karmadaKubeconfig)).clusters[0].cluster.server).toBe("https://198.19.0.20:32644");
    const merged = parse(await unwrap(out.mlsysopsKubeconfig));
    expect(merged["current-context"]).toBe("karmada-apiserver");
    const servers = Object.fromEntries(
      (merged.clusters as { name: string; cluster: { server: string } }[]).map((c) => [c.name, c.cluster.server]),
    );
    expect(servers).toEqual({
      "karmada-apiserver": "https://198.19.0.20:32644",
      "karmada-host": "https://198.19.0.20:6443",
      edge: "https://198.19.0.21:6443",
    });
    expect((merged.contexts as { name: string }[]).map((c) => c.name)).toEqual([
      "karmada-apiserver",
      "karmada-host",
      "edge",
    ]);
  });
});
