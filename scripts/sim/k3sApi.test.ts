import { X509Certificate } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { ETCD_CLIENT_PORT, firstAddress, prepareControlPlane, servingAltNames } from "./k3sApi";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});
const tmp = () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "k3s-api-test-"));
  dirs.push(d);
  return d;
};
const options = (dataDir: string, tlsSans: string[] = ["198.19.0.21"]) => ({
  dataDir,
  hostname: "k3s-cp",
  nodeIp: "198.19.0.21",
  tlsSans,
  serviceCidr: "10.13.0.0/16",
  binary: "/cache/kube-apiserver",
});
const cert = (file: string) => new X509Certificate(fs.readFileSync(file));

describe("firstAddress", () => {
  it("is the service CIDR's first host address: the kubernetes Service's ClusterIP", () => {
    expect(firstAddress("10.43.0.0/16")).toBe("10.43.0.1");
    expect(firstAddress("10.13.0.0/16")).toBe("10.13.0.1");
    expect(firstAddress("198.19.240.0/24")).toBe("198.19.240.1");
    expect(firstAddress("10.43.7.9/16")).toBe("10.43.0.1");
  });
});

describe("servingAltNames", () => {
  it("names what k3s names: the kubernetes Service's names, loopback, hostname, node IP, ClusterIP, tls-san", () => {
    const sans = servingAltNames({
      hostname: "k3s-cp",
      nodeIp: "198.19.0.21",
      tlsSans: ["198.19.0.21", "api.example"],
      serviceCidr: "10.13.0.0/16",
    });
    expect(sans).toEqual([
      "DNS:kubernetes",
      "DNS:kubernetes.default",
      "DNS:kubernetes.default.svc",
      "DNS:kubernetes.default.svc.cluster.local",
      "DNS:localhost",
      "DNS:k3s-cp",
      "DNS:api.example",
      "IP:127.0.0.1",
      "IP:198.19.0.21",
      "IP:10.13.0.1",
    ]);
  });
});

describe("prepareControlPlane", () => {
  it("lays out k3s' certificates once per data-dir, and the admin kubeconfig as k3s.yaml", async () => {
    const d = tmp();
    const plan = await prepareControlPlane(options(d));
    const tls = path.join(d, "server/tls");
    expect(
      fs
        .readdirSync(tls)
        .filter((f) => /\.(crt|key)$/.test(f))
        .sort(),
    ).toEqual([
      "client-admin.crt",
      "client-admin.key",
      "client-ca.crt",
      "client-ca.key",
      "server-ca.crt",
      "server-ca.key",
      "service.key",
      "serving-kube-apiserver.crt",
      "serving-kube-apiserver.key",
    ]);
    for (const f of fs.readdirSync(tls).filter((x) => x.endsWith(".key")))
      expect((fs.statSync(path.join(tls, f)).mode & 0o777).toString(8), f).toBe("600");
    const serverCa = cert(path.join(tls, "server-ca.crt"));
    const serving = cert(path.join(tls, "serving-kube-apiserver.crt"));
    expect(serving.verify(serverCa.publicKey)).toBe(true);
    expect(serving.subjectAltName).toContain("IP Address:198.19.0.21");
    expect(serving.subjectAltName).toContain("DNS:kubernetes.default.svc");
    const admin = cert(path.join(tls, "client-admin.crt"));
    expect(admin.verify(cert(path.join(tls, "client-ca.crt")).publicKey)).toBe(true);
    expect(admin.verify(serverCa.publicKey)).toBe(false);
    expect(admin.subject.split("\n").sort()).toEqual(["CN=system:admin", "O=system:masters"]);

    const kc = parse(plan.kubeconfig);
    expect(kc.clusters).toEqual([
      {
        name: "default",
        cluster: {
          server: "https://127.0.0.1:6443",
          "certificate-authority-data": Buffer.from(fs.readFileSync(path.join(tls, "server-ca.crt"))).toString(
            "base64",
          ),
        },
      },
    ]);
    expect(Buffer.from(kc.users[0].user["client-key-data"], "base64").toString()).toBe(
      fs.readFileSync(path.join(tls, "client-admin.key"), "utf8"),
    );
    expect(kc["current-context"]).toBe("default");
    const cred = fs.readFileSync(path.join(d, "server/cred/admin.kubeconfig"), "utf8");
    expect(cred).toContain(`certificate-authority: ${path.join(tls, "server-ca.crt")}`);

    expect(plan.etcd.argv[0]).toBe("etcd");
    expect(plan.etcd.argv).toContain(`--data-dir=${path.join(d, "server/db/etcd")}`);
    expect(plan.etcd.url).toBe(`http://127.0.0.1:${ETCD_CLIENT_PORT}`);
    expect(plan.apiserver.argv[0]).toBe("/cache/kube-apiserver");
    expect(plan.apiserver.argv).toEqual(
      expect.arrayContaining([
        "--bind-address=0.0.0.0",
        "--secure-port=6443",
        "--advertise-address=198.19.0.21",
        "--service-cluster-ip-range=10.13.0.0/16",
        `--client-ca-file=${path.join(tls, "client-ca.crt")}`,
        "--anonymous-auth=false",
      ]),
    );
  });

  it("keeps every certificate on a restart, and re-signs only the serving one when a tls-san is added", async () => {
    const d = tmp();
    await prepareControlPlane(options(d));
    const tls = path.join(d, "server/tls");
    const read = () =>
      Object.fromEntries(
        fs
          .readdirSync(tls)
          .map((f) => [f, fs.statSync(path.join(tls, f)).isFile() ? fs.readFileSync(path.join(tls, f), "utf8") : ""]),
      );
    const first = read();
    await prepareControlPlane(options(d));
    expect(read()).toEqual(first);
    await prepareControlPlane(options(d, ["198.19.0.21", "k3s.example"]));
    const third = read();
    const changed = Object.keys(first).filter((f) => third[f] !== first[f]);
    expect(changed.sort()).toEqual(["server-ca.srl", "serving-kube-apiserver.crt", "serving-kube-apiserver.key"]);
    expect(cert(path.join(tls, "serving-kube-apiserver.crt")).subjectAltName).toContain("DNS:k3s.example");
  });
});
