/** etcd's WAL fsync and backend commit bucket bounds (seconds): 1 ms doubling to 8.192 s, as etcd exposes them. */
const BOUNDS = [0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096, 8.192];

/**
 * A Prometheus federation page holding `members` etcd members' series, told apart by `instance`: every member's
 * fsyncs spread like the healthy fixture, except each `slowEvery`-th member's, which all land in the 256 ms bucket.
 */
export function federationPage(members: number, slowEvery = 0): string {
  const lines: string[] = [];
  const histogram = (name: string, help: string, counts: (slow: boolean) => number[]) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} histogram`);
    for (let i = 0; i < members; i++) {
      const slow = slowEvery > 0 && i % slowEvery === slowEvery - 1;
      const c = counts(slow);
      const label = `instance="etcd-${i}:2381"`;
      BOUNDS.forEach((le, j) => lines.push(`${name}_bucket{${label},le="${le}"} ${c[j]}`));
      lines.push(`${name}_bucket{${label},le="+Inf"} ${c[c.length - 1]}`);
      lines.push(`${name}_sum{${label}} ${slow ? 9.2 : 0.11}`, `${name}_count{${label}} ${c[c.length - 1]}`);
    }
  };
  const healthy = [36, 43, 50, 54, 55, 56, 56, 56, 56, 56, 56, 56, 56, 56];
  const slowCounts = [0, 0, 0, 0, 0, 0, 0, 0, 56, 56, 56, 56, 56, 56];
  histogram("etcd_disk_wal_fsync_duration_seconds", "The latency distributions of fsync called by WAL.", (s) =>
    s ? slowCounts : healthy,
  );
  histogram(
    "etcd_disk_backend_commit_duration_seconds",
    "The latency distributions of commit called by backend.",
    (s) => (s ? slowCounts : healthy),
  );
  const counter = (name: string, value: (slow: boolean) => number) => {
    lines.push(`# TYPE ${name} counter`);
    for (let i = 0; i < members; i++)
      lines.push(`${name}{instance="etcd-${i}:2381"} ${value(slowEvery > 0 && i % slowEvery === slowEvery - 1)}`);
  };
  counter("etcd_server_leader_changes_seen_total", () => 1);
  counter("etcd_server_heartbeat_send_failures_total", () => 0);
  counter("etcd_server_slow_apply_total", (s) => (s ? 30 : 0));
  return `${lines.join("\n")}\n`;
}
