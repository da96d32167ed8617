import { shq } from "../../components/remote/script";

/**
 * bash that starts Debian's etcd in the background, its data and log under `dir`, clients on 127.0.0.1:2379 and
 * metrics on 127.0.0.1:2381 (where k3s' embedded etcd serves them), waits until it answers, then writes `puts` keys
 * with etcdctl, one request at a time. `prefix` runs etcd behind a command (strace for the slow-disk fault, setsid to
 * outlive an SSH session). Used by the storage benchmark and the simulated testbed's proof.
 */
export function etcdUnderLoadScript(o: { dir: string; puts: number; prefix?: string[]; port?: number }): string {
  const dir = shq(o.dir);
  const prefix = (o.prefix ?? []).map(shq).join(" ");
  // Client, peer and metrics ports: etcd's own 2379-2381 unless told another base.
  const [client, peer, metrics] = [0, 1, 2].map((i) => (o.port ?? 2379) + i);
  return `mkdir -p ${dir}
${prefix} etcd --name testbed-etcd --data-dir ${dir}/data \\
  --listen-client-urls http://127.0.0.1:${client} --advertise-client-urls http://127.0.0.1:${client} \\
  --listen-peer-urls http://127.0.0.1:${peer} --initial-advertise-peer-urls http://127.0.0.1:${peer} \\
  --initial-cluster testbed-etcd=http://127.0.0.1:${peer} --listen-metrics-urls http://127.0.0.1:${metrics} \\
  --logger=zap --log-outputs=${dir}/etcd.log </dev/null >/dev/null 2>&1 &
for i in $(seq 300); do ETCDCTL_API=3 etcdctl --endpoints http://127.0.0.1:${client} endpoint health >/dev/null 2>&1 && break; sleep 0.1; done
value=$(head -c 512 /dev/zero | tr '\\0' x)
for i in $(seq ${o.puts}); do ETCDCTL_API=3 etcdctl --endpoints http://127.0.0.1:${client} put "key-$i" "$value" >/dev/null; done
`;
}

/**
 * bash that stops the etcd of `etcdUnderLoadScript` (found by its data dir: a signal to a strace in front of it would
 * leave etcd running) and waits for it to go.
 */
export function etcdStopScript(dir: string): string {
  const pattern = shq(`--data-dir ${dir}/data`);
  return `pkill -f -- ${pattern} || true
for i in $(seq 100); do pgrep -f -- ${pattern} >/dev/null || break; sleep 0.1; done
pkill -9 -f -- ${pattern} || true
`;
}
