/**
 * Whether tests that need the Python environment may be skipped. Outside CI a missing interpreter
 * skips them (a checkout without `npm install`); in CI (CI=true) never: there they run and fail
 * loudly, since a suite that skips its end-to-end tests in silence must not pass.
 */
import { resolveInterpreter } from "../src/python/interpreter.js"

export const skipWithoutPython = !resolveInterpreter().exists && process.env["CI"] !== "true"
