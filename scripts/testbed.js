#!/usr/bin/env node
// Entry point of `npx testbed`: registers tsx so the operator CLI runs straight from its TypeScript sources,
// the same sources the Pulumi program and the tests use (no separate build step to forget).
require("tsx/cjs");
require("./cli.ts").main(process.argv);
