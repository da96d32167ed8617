import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["components/**/*.test.ts", "scripts/**/*.test.ts", "test/**/*.test.ts"],
    // Pulumi's mock runtime is process-global state: isolate each test file in its own fork.
    pool: "forks",
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
