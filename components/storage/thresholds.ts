/** etcd's guidance: WAL fdatasync p99 should stay under 10 ms. */
export const DEFAULT_WARN_P99_MS = 10;
/** The incident: a p99 above 100 ms is a storage problem, not a configuration problem. */
export const DEFAULT_FAIL_P99_MS = 100;
/** The size of etcd's documented fio job (22 MiB of 2300-byte writes). */
export const DEFAULT_FIO_SIZE_MIB = 22;
