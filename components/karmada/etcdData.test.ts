import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { pinPrograms } from "../../test/harness/programs";
import { parseResult, stepProgram } from "../remote/script";
import { RELEASE_GONE_WAIT_S, etcdDataScript } from "./etcdData";

pinPrograms({
  "karmada-etcd-data": stepProgram(
    "karmada-host/karmada-etcd-data",
    etcdDataScript({ etcdPath: "/var/lib/karmada-system/karmada-etcd" }),
  ),
});

/** Runs the step's program for real, with the data under a temporary directory instead of /var/lib. */
function run(etcdPath: string, action: "create" | "delete", waitSeconds = 2) {
  const program = stepProgram("karmada-host/karmada-etcd-data", etcdDataScript({ etcdPath, waitSeconds }));
  const r = spawnSync("bash", ["-s", "--", action], { input: program, encoding: "utf8" });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("the Karmada etcd data step, run for real", () => {
  let dir: string;
  let holder: ReturnType<typeof spawn> | undefined;
  afterEach(() => {
    holder?.kill("SIGKILL");
    holder = undefined;
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const fresh = () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "testbed-karmada-data-"));
    return path.join(dir, "var/lib/karmada-system/karmada-etcd");
  };
  /** What etcd leaves in its data dir (etcd 3.5: member/snap/db, member/wal/*.wal). */
  const etcdData = (etcdPath: string) => {
    fs.mkdirSync(path.join(etcdPath, "member/wal"), { recursive: true });
    fs.mkdirSync(path.join(etcdPath, "member/snap"), { recursive: true });
    fs.writeFileSync(path.join(etcdPath, "member/snap/db"), "bolt");
    fs.writeFileSync(path.join(etcdPath, "member/wal/0000000000000000-0000000000000000.wal"), "wal");
  };

  it("creates nothing, and its delete removes the data and the namespace directory; twice is a no-op", () => {
    const etcdPath = fresh();
    etcdData(etcdPath);
    const created = run(etcdPath, "create");
    expect(created.code).toBe(0);
    expect(parseResult(created.stdout)).toMatchObject({ changed: false });
    expect(created.stdout).toContain("is in use; removed on destroy");
    const first = run(etcdPath, "delete");
    expect(first.code).toBe(0);
    expect(parseResult(first.stdout)).toEqual({ changed: true, detail: `removed Karmada's etcd data at ${etcdPath}` });
    expect(fs.existsSync(path.dirname(etcdPath))).toBe(false);
    expect(fs.existsSync(path.join(dir, "var/lib"))).toBe(true);
    const second = run(etcdPath, "delete");
    expect(second.code).toBe(0);
    expect(parseResult(second.stdout).changed).toBe(false);
  });

  it("keeps the namespace directory when something else is in it", () => {
    const etcdPath = fresh();
    etcdData(etcdPath);
    fs.writeFileSync(path.join(path.dirname(etcdPath), "other"), "x");
    expect(run(etcdPath, "delete").code).toBe(0);
    expect(fs.existsSync(etcdPath)).toBe(false);
    expect(fs.existsSync(path.join(path.dirname(etcdPath), "other"))).toBe(true);
  });

  it("fails, naming the pids, while a process still holds the data, and removes nothing", async () => {
    const etcdPath = fresh();
    etcdData(etcdPath);
    // Like a terminating etcd pod: a process with the WAL open.
    holder = spawn("bash", [
      "-c",
      `exec 3<"$1"; exec sleep 60`,
      "-",
      path.join(etcdPath, "member/wal/0000000000000000-0000000000000000.wal"),
    ]);
    await new Promise((r) => setTimeout(r, 300));
    const r = run(etcdPath, "delete", 1);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`Karmada's etcd data at ${etcdPath} is still in use (pids: ${holder.pid}) after 1 s`);
    expect(fs.existsSync(path.join(etcdPath, "member/snap/db"))).toBe(true);
  });

  it("bounds its wait by waitSeconds (testbed:karmada.timeouts.etcdReleaseSeconds), in the program's header", () => {
    const header = (waitSeconds?: number) =>
      stepProgram(
        "h/karmada-etcd-data",
        etcdDataScript({ etcdPath: "/var/lib/karmada-system/karmada-etcd", waitSeconds }),
      )
        .split("\n")
        .filter((l) => l.startsWith("readonly release_gone_wait_s="));
    expect(header()).toEqual([`readonly release_gone_wait_s=${RELEASE_GONE_WAIT_S}`]);
    expect(header(60)).toEqual(["readonly release_gone_wait_s=60"]);
    expect(header(240)).toEqual(["readonly release_gone_wait_s=240"]);
  });

  it("refuses a path it could not safely remove", () => {
    expect(() => etcdDataScript({ etcdPath: "/var/lib" })).toThrow(/too close to \//);
    expect(() => etcdDataScript({ etcdPath: "relative/a/b" })).toThrow(/too close to \//);
  });
});
