import { loadStackSpec, remoteRunner } from "../../scripts/lib/hosts";
import { SIM_STACK } from "./hosts";

/** Where the proof's etcd lives on the host: its data dir, log and pid file. */
export const PROOF_DIR = "/var/lib/testbed-proof";

/** Runs a script as root on a host of the sim stack, over the same connection the CLI uses; throws on failure. */
export async function onHost(host: string, script: string): Promise<string> {
  const run = await remoteRunner(loadStackSpec({ file: SIM_STACK }), host);
  const r = await run(`set -euo pipefail\n${script}`);
  if (r.code !== 0) throw new Error(`on ${host}: exit ${r.code}: ${r.stderr.trim()}`);
  return r.stdout;
}

/**
 * Starts Debian's etcd on a sim host, started over SSH so that a slow-disk fault on the host's sshd (strace injecting
 * fdatasync delays) slows etcd as it slows every step; clients and metrics on the host's loopback, as k3s' embedded
 * etcd serves them (2379, and metrics on 2381). Then writes `puts` keys with etcdctl, one request at a time.
 */
export async function startEtcd(host: string, puts: number): Promise<void> {
  await onHost(
    host,
    `rm -rf ${PROOF_DIR} && mkdir -p ${PROOF_DIR}
setsid etcd --name testbed-proof --data-dir ${PROOF_DIR}/data \\
  --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \\
  --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \\
  --initial-cluster testbed-proof=http://127.0.0.1:2380 --listen-metrics-urls http://127.0.0.1:2381 \\
  --logger=zap --log-outputs=${PROOF_DIR}/etcd.log </dev/null >/dev/null 2>&1 &
echo $! > ${PROOF_DIR}/etcd.pid
for i in $(seq 200); do ETCDCTL_API=3 etcdctl --endpoints http://127.0.0.1:2379 endpoint health >/dev/null 2>&1 && break; sleep 0.1; done
for i in $(seq ${puts}); do ETCDCTL_API=3 etcdctl --endpoints http://127.0.0.1:2379 put "key-$i" "$(head -c 512 /dev/zero | tr '\\0' x)" >/dev/null; done`,
  );
}

/** etcd's own log, as written on the host. */
export async function etcdLog(host: string): Promise<string> {
  return onHost(host, `cat ${PROOF_DIR}/etcd.log`);
}

/** Stops the proof's etcd and removes everything it wrote. */
export async function stopEtcd(host: string): Promise<void> {
  await onHost(
    host,
    `if [ -f ${PROOF_DIR}/etcd.pid ]; then pid=$(cat ${PROOF_DIR}/etcd.pid); kill "$pid" 2>/dev/null || true
  for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done; kill -9 "$pid" 2>/dev/null || true; fi
rm -rf ${PROOF_DIR}`,
  );
}
