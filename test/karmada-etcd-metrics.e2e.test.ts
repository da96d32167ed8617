/**
 * doctor's probe reading Karmada's etcd metrics the way chart 1.13.0 serves them (components/etcd/doctor.ts,
 * KARMADA_ETCD): Debian's etcd started as the chart's etcd.yaml starts it (https client URL, --client-cert-auth,
 * the chart's certificate as server certificate, hosts as values.yaml certs.auto.hosts), and the real probe.sh run
 * by bash with the real curl. Only `k3s kubectl` is a double here (no cluster runs): it answers the two reads the
 * probe makes, the etcd pods' names and IPs and the Secret karmada-cert, as kubectl prints them.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { etcdProbeScript, KARMADA_ETCD } from "../components/etcd/doctor";
import { freePort } from "../scripts/lib/kubeApiServer";
import { doctorExitCode, examine, readProbe } from "../scripts/commands/doctor";

const haveEtcd = spawnSync("sh", ["-c", "command -v etcd && command -v curl && command -v openssl"]).status === 0;

/** A CA and a certificate signed by it for the chart's hosts, usable by server and client as the chart's karmada.crt. */
function makeCerts(dir: string, prefix: string): void {
  const ssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  ssl(
    "req",
    "-x509",
    ...ec,
    "-keyout",
    `${prefix}ca.key`,
    "-out",
    `${prefix}server-ca.crt`,
    "-days",
    "1",
    "-subj",
    "/CN=karmada",
  );
  ssl("req", ...ec, "-keyout", `${prefix}karmada.key`, "-out", `${prefix}karmada.csr`, "-subj", "/CN=system:admin");
  fs.writeFileSync(
    path.join(dir, `${prefix}ext`),
    `subjectAltName=DNS:kubernetes.default.svc,DNS:*.etcd.${KARMADA_ETCD.namespace}.svc.cluster.local,DNS:*.${KARMADA_ETCD.namespace}.svc.cluster.local,DNS:*.${KARMADA_ETCD.namespace}.svc,DNS:localhost,IP:127.0.0.1\n` +
      "extendedKeyUsage=serverAuth,clientAuth\n",
  );
  ssl(
    "x509",
    "-req",
    "-in",
    `${prefix}karmada.csr`,
    "-CA",
    `${prefix}server-ca.crt`,
    "-CAkey",
    `${prefix}ca.key`,
    "-CAcreateserial",
    "-out",
    `${prefix}karmada.crt`,
    "-days",
    "1",
    "-extfile",
    `${prefix}ext`,
  );
}

/** `k3s kubectl` as the probe calls it: pods by label (name and IP), a Secret's key (base64), logs (none). */
function k3sDouble(bin: string, certDir: string, prefix: string): void {
  const b64 = (f: string) => fs.readFileSync(path.join(certDir, `${prefix}${f}`)).toString("base64");
  fs.writeFileSync(
    path.join(bin, "k3s"),
    `#!/bin/bash
# Test double of \`k3s kubectl\` for the probe's three reads; prints what kubectl prints for them.
args="$*"
case "$args" in
  *"get pods -l ${KARMADA_ETCD.selector} -o jsonpath="*) printf 'etcd-0 127.0.0.1\\n' ;;
  *"get secret ${KARMADA_ETCD.certSecret} -o jsonpath={.data.server-ca\\\\.crt}"*) printf '%s' '${b64("server-ca.crt")}' ;;
  *"get secret ${KARMADA_ETCD.certSecret} -o jsonpath={.data.karmada\\\\.crt}"*) printf '%s' '${b64("karmada.crt")}' ;;
  *"get secret ${KARMADA_ETCD.certSecret} -o jsonpath={.data.karmada\\\\.key}"*) printf '%s' '${b64("karmada.key")}' ;;
  *"get pods -o name"*) echo pod/etcd-0 ;;
  *) ;;
esac
`,
    { mode: 0o755 },
  );
}

describe.skipIf(!haveEtcd)(
  "doctor reads Karmada's etcd metrics over its client URL with the chart's certificate" +
    (haveEtcd ? "" : " (skipped: needs etcd, curl and openssl)"),
  () => {
    let dir: string;
    let etcd: ChildProcess;
    let port: number;

    beforeAll(async () => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), "testbed-karmada-etcd-"));
      makeCerts(dir, "");
      makeCerts(dir, "other-");
      port = await freePort();
      const peer = await freePort();
      // As etcd.yaml:81-98 starts it (one member, the chart's certificate, client-cert-auth), on loopback.
      etcd = spawn(
        "etcd",
        [
          "--name=etcd-0",
          `--data-dir=${path.join(dir, "data")}`,
          `--listen-client-urls=https://127.0.0.1:${port}`,
          `--advertise-client-urls=https://127.0.0.1:${port}`,
          `--listen-peer-urls=http://127.0.0.1:${peer}`,
          `--initial-advertise-peer-urls=http://127.0.0.1:${peer}`,
          `--initial-cluster=etcd-0=http://127.0.0.1:${peer}`,
          `--cert-file=${path.join(dir, "karmada.crt")}`,
          `--key-file=${path.join(dir, "karmada.key")}`,
          `--trusted-ca-file=${path.join(dir, "server-ca.crt")}`,
          "--client-cert-auth=true",
        ],
        {
          stdio: ["ignore", fs.openSync(path.join(dir, "etcd.log"), "a"), fs.openSync(path.join(dir, "etcd.log"), "a")],
        },
      );
      // Ready once its metrics answer to the chart's certificate (bounded: etcd starts in about a second).
      for (let i = 0; i < 120; i++) {
        const r = spawnSync("curl", [
          "-fsS",
          "--cacert",
          path.join(dir, "server-ca.crt"),
          "--cert",
          path.join(dir, "karmada.crt"),
          "--key",
          path.join(dir, "karmada.key"),
          `https://127.0.0.1:${port}/health`,
        ]);
        if (r.status === 0) return;
        await new Promise((r) => setTimeout(r, 250));
      }
      throw new Error(`etcd did not start:\n${fs.readFileSync(path.join(dir, "etcd.log"), "utf8").slice(-2000)}`);
    }, 60_000);

    afterAll(async () => {
      if (etcd && etcd.exitCode === null) {
        const gone = new Promise((r) => etcd.once("exit", r));
        etcd.kill("SIGTERM");
        await gone;
      }
      fs.rmSync(dir, { recursive: true, force: true });
    });

    const probe = (prefix: string) => {
      const bin = fs.mkdtempSync(path.join(dir, "bin-"));
      const tmp = fs.mkdtempSync(path.join(dir, "tmp-"));
      k3sDouble(bin, dir, prefix);
      const r = spawnSync("/bin/bash", ["-s"], {
        input: etcdProbeScript({
          metricsUrl: "http://127.0.0.1:1/metrics",
          since: "1h",
          karmada: true,
          karmadaEtcdPort: port,
        }),
        encoding: "utf8",
        env: { PATH: `${bin}:/usr/bin:/bin`, TMPDIR: tmp },
      });
      return { ...r, leftInTmp: fs.readdirSync(tmp) };
    };

    it("with the chart's certificate: the page is read, and doctor judges the Karmada etcd's disk by it", () => {
      const r = probe("");
      expect(r.status, r.stderr).toBe(0);
      // The certificate and key were written to a private directory, and it is gone.
      expect(r.leftInTmp).toEqual([]);
      expect(r.stdout).not.toContain("PRIVATE KEY");
      const read = readProbe("karmada-host", r.stdout, "http://127.0.0.1:1/metrics");
      expect(read.pages.map((p) => p.source)).toEqual(["karmada-host karmada etcd-0"]);
      expect(read.noMetrics).toEqual(["karmada-host"]);
      const report = examine(read.pages, [], { warnMs: 10, failMs: 100 }, { noMetrics: read.noMetrics });
      expect(report.members).toHaveLength(1);
      expect(report.members[0].member).toBe("karmada-host karmada etcd-0");
      expect(report.members[0].walFsync?.count).toBeGreaterThan(0);
      expect(report.members[0].hasLeader).toBe(1);
      // Karmada's certificates, the public ones: this CA and certificate were made for a day, so both warn.
      expect(read.certificates.map((c) => c.key)).toEqual(["server-ca.crt", "karmada.crt"]);
      expect(read.unavailable.filter((u) => u.includes("karmada-cert-"))).toEqual([
        `karmada-host: karmada-cert-front-proxy-ca.crt: no certificate front-proxy-ca.crt in Secret ${KARMADA_ETCD.namespace}/${KARMADA_ETCD.certSecret}`,
        `karmada-host: karmada-cert-front-proxy-client.crt: no certificate front-proxy-client.crt in Secret ${KARMADA_ETCD.namespace}/${KARMADA_ETCD.certSecret}`,
      ]);
      const judged = examine(read.pages, [], { warnMs: 10, failMs: 100 }, { certificates: read.certificates });
      expect(judged.certificates?.health).toBe("warn");
      expect(judged.certificates?.certificates.map((c) => [c.source, c.subject, c.daysLeft])).toEqual([
        ["karmada-host server-ca.crt", "CN=karmada", 0],
        ["karmada-host karmada.crt", "CN=system:admin", 0],
      ]);
      expect(doctorExitCode(judged)).toBe(1);
    });

    it("with a certificate from another CA: etcd refuses it, and the probe says so without failing", () => {
      const r = probe("other-");
      expect(r.status, r.stderr).toBe(0);
      expect(r.leftInTmp).toEqual([]);
      const read = readProbe("karmada-host", r.stdout, "http://127.0.0.1:1/metrics");
      expect(read.pages).toEqual([]);
      expect(read.unavailable).toContain(
        "karmada-host: karmada-etcd-metrics-etcd-0: nothing answers at its client URL, or it refused the chart's certificate",
      );
      expect(read.noMetrics).toEqual(["karmada-host", "karmada-host karmada etcd"]);
    });

    it("passes only a certificate's lines: a Secret cannot forge a section of the probe's output", () => {
      const bin = fs.mkdtempSync(path.join(dir, "bin-"));
      const forged = Buffer.from(
        "-----BEGIN CERTIFICATE-----\nTESTBED section karmada-etcd-metrics-evil\nAAAA\n-----END CERTIFICATE-----\n",
      ).toString("base64");
      fs.writeFileSync(
        path.join(bin, "k3s"),
        `#!/bin/bash\ncase "$*" in *"get secret"*) printf '%s' '${forged}' ;; esac\n`,
        {
          mode: 0o755,
        },
      );
      const r = spawnSync("/bin/bash", ["-s"], {
        input: etcdProbeScript({ metricsUrl: "http://127.0.0.1:1/metrics", since: "1h", karmada: true }),
        encoding: "utf8",
        env: { PATH: `${bin}:/usr/bin:/bin` },
      });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).not.toContain("karmada-etcd-metrics-evil");
      expect(r.stdout).toContain("TESTBED section karmada-cert-server-ca.crt\n-----BEGIN CERTIFICATE-----\nAAAA\n");
    });
  },
);
