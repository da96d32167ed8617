import { etcdStopScript, etcdUnderLoadScript } from "../../scripts/bench/etcdLoad";
import { type ScriptRunner, loadStackSpec, remoteRunner } from "../../scripts/lib/hosts";
import { SIM_STACK } from "../../scripts/sim/hosts";

/** Where the proof's etcd keeps its data and log on the host. */
export const PROOF_DIR = "/var/lib/testbed-proof";
/**
 * The proof's etcd ports (client, peer, metrics from this base): off the k3s double's, whose etcd serves its metrics
 * on 127.0.0.1:2381 as k3s's does. doctor is pointed at PROOF_METRICS_URL.
 */
export const PROOF_PORT = 2479;
export const PROOF_METRICS_URL = `http://127.0.0.1:${PROOF_PORT + 2}/metrics`;

const runners = new Map<string, Promise<ScriptRunner>>();

/** Runs a script as root on a host of the sim stack, over the same connection the CLI uses; throws on failure. */
export async function onHost(host: string, script: string): Promise<string> {
  if (!runners.has(host)) runners.set(host, remoteRunner(loadStackSpec({ file: SIM_STACK }), host));
  const run = await (runners.get(host) as Promise<ScriptRunner>);
  const r = await run(`set -euo pipefail\n${script}`);
  if (r.code !== 0) throw new Error(`on ${host}: exit ${r.code}: ${r.stderr.trim()}`);
  return r.stdout;
}

/**
 * Starts Debian's etcd on a sim host and writes `puts` keys to it. It is started over SSH, so a slow-disk fault on
 * the host's sshd (strace delaying fdatasync) slows etcd as it slows every step; setsid lets it outlive the session.
 */
export async function startEtcd(host: string, puts: number): Promise<void> {
  await onHost(
    host,
    `rm -rf ${PROOF_DIR}\n${etcdUnderLoadScript({ dir: PROOF_DIR, puts, prefix: ["setsid"], port: PROOF_PORT })}`,
  );
}

/** etcd's own log, as written on the host. */
export async function etcdLog(host: string): Promise<string> {
  return onHost(host, `cat ${PROOF_DIR}/etcd.log`);
}

/** Stops the proof's etcd and removes everything it wrote. */
export async function stopEtcd(host: string): Promise<void> {
  await onHost(host, `${etcdStopScript(PROOF_DIR)}rm -rf ${PROOF_DIR}`);
}
