import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

/** True where the real ZFS CLI can run here: root, unshare and zfs-fuse installed (CI installs them). */
export function zfsFuseAvailable(): boolean {
  return (
    process.getuid?.() === 0 &&
    spawnSync("sh", ["-c", "command -v zfs-fuse && command -v zpool && command -v unshare"]).status === 0
  );
}

export interface ShellResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A pool name no other test (or sim host) uses at the same time: zfs-fuse daemons see each other's pools. */
export function uniquePoolName(prefix = "tb"): string {
  return `${prefix}${process.pid}x${Math.floor(Math.random() * 1e6)}`;
}

/**
 * Runs `commands` (bash) in a private mount namespace where a zfs-fuse daemon serves a fresh file-backed pool
 * named `pool` (default "default"), with private /run, /etc/zfs and /var/lib/testbed, so nothing leaks to
 * this machine or to other tests. `files` are written to a temp dir available as $FILES.
 */
export function runWithZfsFuse(commands: string, files: Record<string, string> = {}, pool = "default"): ShellResult {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "testbed-zfs-"));
  try {
    fs.mkdirSync(path.join(dir, "files"));
    for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, "files", name), text);
    const driver = `
set -uo pipefail
mount -t tmpfs tmpfs /run && mkdir -p /run/zfs /run/lock
mkdir -p ${dir}/etc-zfs && cp -a /etc/zfs/. ${dir}/etc-zfs/ 2>/dev/null; mount --bind ${dir}/etc-zfs /etc/zfs
mkdir -p /var/lib/testbed && mount -t tmpfs tmpfs /var/lib/testbed
zfs-fuse --pidfile /run/zfs-fuse.pid || { echo "zfs-fuse did not start" >&2; exit 90; }
for i in $(seq 100); do [ -S /run/zfs/zfs_socket ] && break; sleep 0.1; done
truncate -s 128M ${dir}/pool.img
out="$(zpool create -f ${pool} ${dir}/pool.img 2>&1)" || { echo "zpool create failed: $out" >&2; exit 91; }
export FILES=${dir}/files
( ${commands} )
rc=$?
zpool destroy -f ${pool} >/dev/null 2>&1
# zfs-fuse takes a few seconds to exit on TERM; wait for it, so no daemon outlives the test.
pid="$(cat /run/zfs-fuse.pid)"
kill "$pid" 2>/dev/null
for i in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -9 "$pid" 2>/dev/null
exit $rc`;
    const r = spawnSync("unshare", ["--mount", "--propagation", "private", "bash", "-c", driver], {
      encoding: "utf8",
      timeout: 120_000,
    });
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
