import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parse, stringify } from "yaml";
import { SIM_STACK, overlayFiles, loadState } from "../../scripts/sim/hosts";

/** Root, namespaces and the Debian tools the sim needs (CI installs them; elsewhere the sim tests are skipped). */
export function simAvailable(): boolean {
  if (process.getuid?.() !== 0) return false;
  return (
    spawnSync("sh", [
      "-c",
      "command -v sshd && command -v zfs-fuse && command -v ip && command -v unshare && command -v strace",
    ]).status === 0
  );
}

/**
 * Every file in every host's overlays with its size and mtime: to prove a run changed nothing. A k3s server's etcd
 * data (`server/db/etcd/`) is left out: the running API writes to it on its own (leases, every few seconds).
 */
export function overlaySnapshot(): Record<string, string> {
  const snap: Record<string, string> = {};
  for (const h of loadState().hosts)
    for (const f of overlayFiles(h.name)) {
      if (f.includes("/server/db/etcd/")) continue;
      const st = fs.lstatSync(path.join(__dirname, "../../.sim/hosts", h.name, "upper", f));
      snap[`${h.name}:${f}`] = `${st.size}:${st.mtimeMs}`;
    }
  return snap;
}

/** The settings that put Karmada and vAccel on the sim (test/sim/karmada.e2e.test.ts runs them). */
export const KUBERNETES_KEYS = ["testbed:karmada", "testbed:vaccel"];

/**
 * A copy of the sim stack with some settings changed (e.g. a smaller disk-gate measurement). Without Karmada and
 * vAccel unless `kubernetes` says so: the tests of the layers under them run faster without them, and
 * test/sim/karmada.e2e.test.ts runs the whole stack.
 */
export function simStackWith(
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a stack file is free-form YAML
  change: (config: Record<string, any>) => void = () => undefined,
  opts: { kubernetes?: boolean } = {},
): string {
  const doc = parse(fs.readFileSync(SIM_STACK, "utf8"));
  if (!opts.kubernetes) for (const key of KUBERNETES_KEYS) delete doc.config[key];
  change(doc.config);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "testbed-sim-stack-"));
  const file = path.join(dir, "Pulumi.sim.yaml");
  fs.writeFileSync(file, stringify(doc));
  return file;
}
