import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts", "test/**/*.test.tsx"],
    // End-to-end tests start Python workers and train fixtures: give them room, and run files
    // one or two at a time on a 2-core machine.
    testTimeout: 120_000,
    hookTimeout: 300_000,
    fileParallelism: true,
    maxWorkers: 2,
    // the engine's and the bridge's test kernels (test-echo, test-crash, ...) exist only here:
    // src/kernels/catalog.ts and python/polyquant/kernels/__init__.py register them under this switch,
    // which the CLI processes and Python workers the tests start inherit
    env: { POLYQUANT_TEST_KERNELS: "1" }
  }
})
