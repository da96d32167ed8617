#!/usr/bin/env node
// Run by the k3s double's server (scripts/sim/doubles/k3s) on a sim host: prepares its Kubernetes API's certificates
// and prints the command lines to start (scripts/sim/k3sApi.ts). tsx, as in scripts/testbed.js.
require("tsx/cjs");
require("./k3sApi.ts")
  .main(process.argv)
  .catch((err) => {
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  });
