import { describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import {
  apiServerUrl,
  karmadaApiKubeconfig,
  kubeconfigServer,
  mergedKubeconfig,
  renameKubeconfig,
  rewriteServer,
} from "./kubeconfig";

/** The shape k3s writes to /etc/rancher/k3s/k3s.yaml (names `default`, server on 127.0.0.1). */
const k3s = (ca: string, key: string) => `apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: ${ca}
    server: https://127.0.0.1:6443
  name: default
contexts:
- context:
    cluster: default
    user: default
  name: default
current-context: default
kind: Config
preferences: {}
users:
- name: default
  user:
    client-certificate-data: CERT${key}
    client-key-data: KEY${key}
`;

/** The shape of the chart's karmada-kubeconfig Secret (templates/karmada-kubeconfig.yaml at v1.13.0). */
const karmada = `apiVersion: v1
kind: Config
clusters:
  - cluster:
      certificate-authority-data: KARMADACA
      insecure-skip-tls-verify: false
      server: https://karmada-apiserver.karmada-system.svc.cluster.local:5443
    name: karmada-apiserver
users:
  - user:
      client-certificate-data: KARMADACERT
      client-key-data: KARMADAKEY
    name: karmada-apiserver
contexts:
  - context:
      cluster: karmada-apiserver
      user: karmada-apiserver
    name: karmada-apiserver
current-context: karmada-apiserver
`;

describe("karmadaApiKubeconfig", () => {
  it("points the API at the host's NodePort and keeps the credentials", () => {
    const out = parse(karmadaApiKubeconfig(karmada, "198.18.0.20", 32644));
    expect(out.clusters).toEqual([
      {
        cluster: {
          "certificate-authority-data": "KARMADACA",
          "insecure-skip-tls-verify": false,
          server: "https://198.18.0.20:32644",
        },
        name: "karmada-apiserver",
      },
    ]);
    expect(out.users[0].user["client-key-data"]).toBe("KARMADAKEY");
    expect(out["current-context"]).toBe("karmada-apiserver");
  });

  it("refuses what is not a kubeconfig without quoting it", () => {
    expect(() => karmadaApiKubeconfig("secret-token: [", "198.18.0.20", 32644)).toThrow(
      /^Karmada API kubeconfig: not valid YAML$/,
    );
    expect(() => karmadaApiKubeconfig("token: s3cr3t\n", "198.18.0.20", 32644)).toThrow(/has no clusters$/);
  });
});

describe("apiServerUrl and rewriteServer", () => {
  it("brackets IPv6 and refuses bad ports", () => {
    expect(apiServerUrl("karmada.example", 32644)).toBe("https://karmada.example:32644");
    expect(apiServerUrl("2001:db8::1", 6443)).toBe("https://[2001:db8::1]:6443");
    expect(() => apiServerUrl("198.18.0.20", 0)).toThrow(/not a TCP port/);
  });

  it("rewrites every cluster entry", () => {
    expect(parse(rewriteServer(k3s("CA", "1"), "https://198.18.0.11:6443")).clusters[0].cluster.server).toBe(
      "https://198.18.0.11:6443",
    );
  });
});

describe("renameKubeconfig", () => {
  it("renames k3s' default cluster, user and context and replaces 127.0.0.1", () => {
    const out = parse(renameKubeconfig(k3s("CA", "1"), "edge", "edge", "https://198.18.0.11:6443"));
    expect(out.clusters).toEqual([
      { cluster: { "certificate-authority-data": "CA", server: "https://198.18.0.11:6443" }, name: "edge" },
    ]);
    expect(out.users[0].name).toBe("edge");
    expect(out.contexts).toEqual([{ context: { cluster: "edge", user: "edge" }, name: "edge" }]);
    expect(out["current-context"]).toBe("edge");
  });
});

describe("mergedKubeconfig", () => {
  const input = {
    karmadaApi: karmadaApiKubeconfig(karmada, "198.18.0.20", 32644),
    karmadaHost: rewriteServer(k3s("HOSTCA", "host"), "https://198.18.0.20:6443"),
    members: [{ name: "edge", kubeconfig: rewriteServer(k3s("EDGECA", "edge"), "https://198.18.0.11:6443") }],
  };

  it("has the contexts the MLSysOps CLI loads, each with its own cluster and credentials", () => {
    const out = parse(mergedKubeconfig(input));
    expect(out.contexts.map((c: any) => c.name)).toEqual(["karmada-apiserver", "karmada-host", "edge"]);
    expect(out["current-context"]).toBe("karmada-apiserver");
    for (const name of ["karmada-apiserver", "karmada-host", "edge"]) {
      expect(out.contexts.find((c: any) => c.name === name).context).toEqual({ cluster: name, user: name });
    }
    expect(kubeconfigServer(mergedKubeconfig(input), "merged", "karmada-apiserver")).toBe("https://198.18.0.20:32644");
    expect(kubeconfigServer(mergedKubeconfig(input), "merged", "karmada-host")).toBe("https://198.18.0.20:6443");
    expect(kubeconfigServer(mergedKubeconfig(input), "merged", "edge")).toBe("https://198.18.0.11:6443");
    expect(out.users.find((u: any) => u.name === "edge").user["client-key-data"]).toBe("KEYedge");
    expect(out.users.find((u: any) => u.name === "karmada-host").user["client-key-data"]).toBe("KEYhost");
  });

  it("refuses a member named like a Karmada context", () => {
    expect(() =>
      mergedKubeconfig({ ...input, members: [{ name: "karmada-host", kubeconfig: input.members[0].kubeconfig }] }),
    ).toThrow('merged kubeconfig: context "karmada-host" appears twice');
  });

  it("refuses a member kubeconfig with several contexts, naming the member", () => {
    const two = parse(k3s("CA", "x"));
    two.contexts.push({ name: "other", context: { cluster: "default", user: "default" } });
    expect(() => mergedKubeconfig({ ...input, members: [{ name: "edge", kubeconfig: stringify(two) }] })).toThrow(
      "member edge kubeconfig: expected exactly one cluster, user and context",
    );
  });
});
