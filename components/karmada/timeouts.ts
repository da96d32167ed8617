/**
 * The bounds of Karmada's waits, each overridable under testbed:karmada.timeouts (components/spec/schema.ts), with
 * no imports: the spec reads them as its defaults without loading @pulumi/kubernetes (CONTRIBUTING.md, "Numbers").
 */

/**
 * How long the Release waits for every chart resource (karmada-apiserver, its etcd, the certificate hook Job) to be
 * Ready: what the original testbed allowed (mlsysops-framework orchestrators/karmada-install.yml), Helm's default
 * 5 min for `helm upgrade --install` (hooks included), then `kubectl wait --timeout=300s` for karmada-apiserver. The
 * same bound applies to `helm uninstall` on destroy (pulumi-kubernetes provider/pkg/provider/helm_release.go).
 */
export const KARMADA_READY_TIMEOUT_S = 600;
/**
 * Bound on the member's token controller filling in a token Secret: twice the 30 s `karmadactl join` waits for the
 * same Secret (karmada v1.13.0 pkg/util/serviceaccount.go:94, WaitForServiceAccountSecretCreation), for a loaded
 * Pi-class server.
 */
export const TOKEN_TIMEOUT_S = 60;
/**
 * Bound on the member's Ready condition: Karmada's cluster status controller probes a member every 10 s
 * (karmada-controller-manager's --cluster-status-update-frequency default, cmd/controller-manager/app/options/
 * options.go:169) and needs its API to answer /readyz; five minutes leave room for a member whose server has just
 * started.
 */
export const CLUSTER_READY_TIMEOUT_S = 300;
/**
 * How long etcd-data.sh's delete waits for the chart's etcd to let go of its data after `helm uninstall` returned:
 * the chart's etcd StatefulSet sets no terminationGracePeriodSeconds (chart 1.13.0 templates/etcd.yaml), so
 * Kubernetes' default of 30 s applies; twice that leaves room for a loaded host.
 */
export const RELEASE_GONE_WAIT_S = 60;
