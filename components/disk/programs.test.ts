import { pinPrograms } from "../../test/harness/programs";
import { fioScript } from "./fio";
import { diskLatencyScript, zfsLatencyScript } from "./measurement";
import { stepProgram } from "../remote/script";
import { DEFAULT_BUDGET_SECONDS, DEFAULT_FAIL_P99_MS, DEFAULT_FIO_SIZE_MIB, DEFAULT_WARN_P99_MS } from "./thresholds";

// The measurement as the Testbed runs it: etcd's documented job, the default limits and budget.
const job = {
  sizeMiB: DEFAULT_FIO_SIZE_MIB,
  thresholds: { warnMs: DEFAULT_WARN_P99_MS, failMs: DEFAULT_FAIL_P99_MS },
  budgetSeconds: DEFAULT_BUDGET_SECONDS,
};
const k3sDb = "/var/lib/rancher/k3s/server/db";

pinPrograms({
  "measurement-one-path": stepProgram("k3s-cp/disk-gate-k3s", diskLatencyScript("k3s-cp", [k3sDb], job)),
  // Karmada's etcd and k3s' on one VM disk: one filesystem, measured once.
  "measurement-two-paths": stepProgram(
    "karmada-host/disk-gate",
    diskLatencyScript("karmada-host", [k3sDb, "/var/lib/karmada-system/karmada-etcd"], job),
  ),
  "measurement-zfs-before-as-recorded": stepProgram(
    "nuc/fsync-before",
    zfsLatencyScript("nuc", "tank/incus", "before", job, { asRecorded: true }),
  ),
  "measurement-zfs-after": stepProgram("nuc/fsync-after", zfsLatencyScript("nuc", "tank/incus", "after", job)),
  // `testbed disk-check --path ... --size 22` with its defaults.
  "disk-check": fioScript({ path: k3sDb }),
});
