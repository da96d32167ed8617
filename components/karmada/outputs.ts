import * as pulumi from "@pulumi/pulumi";
import { mergedKubeconfig } from "./kubeconfig";

export interface KarmadaOutputsArgs {
  /** The Karmada API kubeconfig, server https://<host>:<apiNodePort> (Karmada.apiKubeconfig). */
  karmadaApi: pulumi.Input<string>;
  /** The mgmt cluster's k3s kubeconfig. */
  karmadaHost: pulumi.Input<string>;
  /** Each member's k3s kubeconfig, by cluster name (= its context name). */
  members: Record<string, pulumi.Input<string>>;
}

/**
 * The stack outputs of Karmada: `karmadaKubeconfig` (the Karmada API) and `mlsysopsKubeconfig` (the file the
 * MLSysOps CLI loads: contexts karmada-apiserver, karmada-host, one per member). Both hold credentials: secret,
 * whatever their inputs were marked.
 */
export function karmadaOutputs(args: KarmadaOutputsArgs): {
  karmadaKubeconfig: pulumi.Output<string>;
  mlsysopsKubeconfig: pulumi.Output<string>;
} {
  const names = Object.keys(args.members);
  const merged = pulumi
    .all([args.karmadaApi, args.karmadaHost, pulumi.all(names.map((n) => args.members[n]))])
    .apply(([karmadaApi, karmadaHost, members]) =>
      mergedKubeconfig({
        karmadaApi,
        karmadaHost,
        members: names.map((name, i) => ({ name, kubeconfig: members[i] })),
      }),
    );
  return {
    karmadaKubeconfig: pulumi.secret(pulumi.output(args.karmadaApi)),
    mlsysopsKubeconfig: pulumi.secret(merged),
  };
}
