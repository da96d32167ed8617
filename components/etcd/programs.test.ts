import { pinPrograms } from "../../test/harness/programs";
import { K3S_ETCD_METRICS_URL, etcdProbeScript } from "./doctor";

pinPrograms({
  "etcd-probe": etcdProbeScript({ metricsUrl: K3S_ETCD_METRICS_URL, since: "1h" }),
  "etcd-probe-karmada": etcdProbeScript({ metricsUrl: K3S_ETCD_METRICS_URL, since: "1h", karmada: true }),
});
