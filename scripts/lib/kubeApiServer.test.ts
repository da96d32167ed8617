import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import {
  apiServerArgs,
  kubeApiServerBinary,
  kubeApiServerCacheDir,
  kubeconfigText,
  startKubeApiServer,
} from "./kubeApiServer";

const SCRIPT = path.join(__dirname, "../setup-kube-apiserver.sh");
const hasEtcd = spawnSync("etcd", ["--version"]).status === 0;

/**
 * Runs fn with TMPDIR set to a fresh directory (os.tmpdir() reads it on each call), so that what a failed start
 * leaves behind, files or processes naming it, is this test's alone; returns that directory.
 */
async function inFreshTmpdir(fn: () => Promise<void>): Promise<string> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kube-apiserver-test-"));
  const saved = process.env.TMPDIR;
  process.env.TMPDIR = dir;
  try {
    await fn();
  } finally {
    if (saved === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = saved;
  }
  return dir;
}

/** Asserts that nothing is left in the directory and that no process names it on its command line. */
function expectNothingLeft(dir: string): void {
  expect(fs.readdirSync(dir)).toEqual([]);
  expect(spawnSync("pgrep", ["-f", "--", dir]).status).toBe(1); // pgrep: 1 = no process matched
  fs.rmdirSync(dir);
}

describe("kubeApiServerCacheDir", () => {
  it("is where setup-kube-apiserver.sh builds, with and without XDG_CACHE_HOME", () => {
    expect(kubeApiServerCacheDir("v1.31.4", { HOME: "/home/u" })).toBe("/home/u/.cache/testbed/kube-apiserver-v1.31.4");
    expect(kubeApiServerCacheDir("v1.31.4", { HOME: "/home/u", XDG_CACHE_HOME: "/c" })).toBe(
      "/c/testbed/kube-apiserver-v1.31.4",
    );
    expect(kubeApiServerBinary("v1.31.4", { HOME: "/h" })).toBe(
      "/h/.cache/testbed/kube-apiserver-v1.31.4/bin/kube-apiserver",
    );
    // The script's own line, evaluated by bash: the two must agree or the e2e test looks in the wrong place.
    const line = fs.readFileSync(SCRIPT, "utf8").match(/^cache="(.*)"$/m)![1];
    const r = spawnSync("bash", ["-c", `version=v1.31.4; echo "${line}"`], {
      env: { PATH: process.env.PATH, HOME: "/home/u", XDG_CACHE_HOME: "/c" },
      encoding: "utf8",
    });
    expect(r.stdout.trim()).toBe("/c/testbed/kube-apiserver-v1.31.4");
  });
});

describe("apiServerArgs and kubeconfigText", () => {
  it("keep the token off the command line and put it only in the kubeconfig", () => {
    const args = apiServerArgs("/state", "http://127.0.0.1:2379", 6443);
    expect(args).toContain("--token-auth-file=/state/tokens.csv");
    expect(args).toContain("--authorization-mode=RBAC");
    expect(args).toContain("--anonymous-auth=false");
    expect(args).toContain("--service-cluster-ip-range=198.19.240.0/24");
    const text = kubeconfigText("https://127.0.0.1:6443", "PEM", "s3cr3t-token");
    expect(args.join(" ")).not.toContain("s3cr3t-token");
    const kc = parse(text);
    expect(kc.users[0].user).toEqual({ token: "s3cr3t-token" });
    expect(kc.clusters[0].cluster).toEqual({
      server: "https://127.0.0.1:6443",
      "certificate-authority-data": Buffer.from("PEM").toString("base64"),
    });
    expect(kc["current-context"]).toBe(kc.contexts[0].name);
  });
});

describe("startKubeApiServer failures", () => {
  it("names the setup script when the binary is missing, and creates nothing", async () => {
    const dir = await inFreshTmpdir(async () => {
      await expect(startKubeApiServer({ binary: "/nonexistent/kube-apiserver" })).rejects.toThrow(
        "kube-apiserver not found at /nonexistent/kube-apiserver: run scripts/setup-kube-apiserver.sh",
      );
    });
    expectNothingLeft(dir);
  });

  it("says etcd did not start when it cannot be run, and removes its state directory", async () => {
    const dir = await inFreshTmpdir(async () => {
      await expect(startKubeApiServer({ binary: "/bin/true", etcd: "/nonexistent/etcd" })).rejects.toThrow(
        "etcd did not start: spawn /nonexistent/etcd ENOENT",
      );
    });
    expectNothingLeft(dir);
  });

  it("starts again with new ports when one was taken before etcd bound it, three times at most", async () => {
    // An "etcd" that logs what etcd logs when its port was taken in the meantime, and counts its runs.
    const bin = fs.mkdtempSync(path.join(os.tmpdir(), "port-race-"));
    const fake = path.join(bin, "etcd");
    fs.writeFileSync(
      fake,
      `#!/bin/sh\necho run >>${bin}/runs\necho "etcdmain: listen tcp 127.0.0.1:1: bind: address already in use" >&2\nexit 1\n`,
      { mode: 0o755 },
    );
    const dir = await inFreshTmpdir(async () => {
      await expect(startKubeApiServer({ binary: "/bin/true", etcd: fake })).rejects.toThrow(
        /^etcd exited \(code 1\) before it was ready:[\s\S]*address already in use/,
      );
    });
    expect(fs.readFileSync(path.join(bin, "runs"), "utf8").split("\n").filter(Boolean)).toHaveLength(3);
    fs.rmSync(bin, { recursive: true });
    expectNothingLeft(dir);
  });

  it.skipIf(!hasEtcd)(
    "reports an API server that exits before /readyz with its exit code, and stops etcd",
    async () => {
      // etcd starts for real (its data dir is in the fresh TMPDIR), then the "API server" exits at once.
      const dir = await inFreshTmpdir(async () => {
        await expect(startKubeApiServer({ binary: "/bin/false" })).rejects.toThrow(
          /^kube-apiserver exited \(code 1\) before it was ready:/,
        );
      });
      expectNothingLeft(dir);
    },
  );
});
