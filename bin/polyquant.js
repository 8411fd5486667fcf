#!/usr/bin/env node
// The CLI entry: the compiled TypeScript lives in dist/ (built by `npm install` / `npm run build`).
import("../dist/cli/main.js").catch((error) => {
  if (error && error.code === "ERR_MODULE_NOT_FOUND" && String(error.message).includes("dist/cli/main.js")) {
    console.error("polyquant is not built yet: run `npm install` (or `npm run build`) in the polyquant folder.")
    process.exit(2)
  }
  throw error
})
