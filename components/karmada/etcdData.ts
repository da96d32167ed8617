/**
 * The step that removes Karmada's etcd hostPath data on destroy (etcd-data.sh): `helm uninstall` leaves it on the
 * Karmada host, and a new install on the same host would start on it (karmada-io/karmada #5582, #2735).
 */
import * as path from "node:path";
import { type StepScript, readShellFile } from "../remote/script";

import { RELEASE_GONE_WAIT_S } from "./timeouts";

export { RELEASE_GONE_WAIT_S };

export interface EtcdDataArgs {
  /** testbed:karmada.etcdPath, already checked to be where the chart keeps etcd (etcdPathError). */
  etcdPath: string;
  /**
   * Bound on the chart's etcd letting go of its data before the delete removes it
   * (karmada.timeouts.etcdReleaseSeconds). Defaults to RELEASE_GONE_WAIT_S.
   */
  waitSeconds?: number;
}

export function etcdDataScript(args: EtcdDataArgs): StepScript {
  const etcdPath = args.etcdPath.replace(/\/+$/, "");
  // A path this step removes recursively: never the root or a top-level directory, whatever the caller checked.
  if (!path.isAbsolute(etcdPath) || etcdPath.split("/").filter(Boolean).length < 3) {
    throw new Error(`karmada.etcdPath: "${args.etcdPath}" is too close to / to be removed on destroy`);
  }
  return {
    values: {
      etcd_path: etcdPath,
      namespace_dir: path.dirname(etcdPath),
      release_gone_wait_s: args.waitSeconds ?? RELEASE_GONE_WAIT_S,
    },
    body: readShellFile(__dirname, "etcd-data.sh"),
  };
}
