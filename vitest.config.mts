import { configDefaults, defineConfig } from "vitest/config";

/** The e2e files of the sim's Kubernetes layer: the "kubernetes" project, not "e2e". */
const KUBERNETES_E2E = [
  "test/sim/karmada.e2e.test.ts",
  "test/sim/kube-api.e2e.test.ts",
  "test/karmada-release.e2e.test.ts",
  "test/karmada-controllers.e2e.test.ts",
  "scripts/sim/controllers/run.e2e.test.ts",
  "scripts/sim/kube.e2e.test.ts",
];

export default defineConfig({
  test: {
    // Pulumi's mock runtime is process-global state: isolate each test file in its own fork.
    pool: "forks",
    testTimeout: 60_000,
    hookTimeout: 120_000,
    projects: [
      {
        extends: true,
        test: {
          name: "unit",
          include: ["components/**/*.test.ts", "scripts/**/*.test.ts", "test/**/*.test.ts"],
          exclude: [...configDefaults.exclude, "**/*.e2e.test.ts"],
        },
      },
      {
        // The e2e files share the simulated testbed (fixed namespace names, addresses, .sim/): one file at a time.
        extends: true,
        test: {
          name: "e2e",
          include: ["components/**/*.e2e.test.ts", "scripts/**/*.e2e.test.ts", "test/**/*.e2e.test.ts"],
          exclude: [...configDefaults.exclude, "test/real-engine/**", ...KUBERNETES_E2E],
          fileParallelism: false,
        },
      },
      {
        // Karmada and vAccel on the simulated testbed and the doubles that serve them (about 7 minutes):
        // `npm run test:kubernetes`, after `npm test` (the same sim hosts, so never beside it), keeping `npm test`
        // well under 10 minutes.
        extends: true,
        test: {
          name: "kubernetes",
          include: KUBERNETES_E2E,
          fileParallelism: false,
        },
      },
      {
        // The real Pulumi engine on the simulated testbed (about 2 minutes): `npm run test:real-engine`, after
        // `npm test` and never beside it (the same sim hosts), so `npm test` stays well under 10 minutes.
        extends: true,
        test: {
          name: "real-engine",
          include: ["test/real-engine/**/*.e2e.test.ts"],
          fileParallelism: false,
        },
      },
    ],
  },
});
