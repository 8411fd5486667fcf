/** The grids a quantization stored, in a disparity step's description: overrides and the size visible (PRO-001). */
import { describe, expect, it } from "vitest"
import { storageText } from "../../src/report/sections.js"

describe("storageText", () => {
  const quant = { method: "awq", bits: 4, group_size: 64, sym: false }
  it("names every grid besides the step's own, with its layers, and the bits per weight", () => {
    const storage = { bpw: 4.46875, grids: [{ bits: 4, group_size: 32, sym: false, modules: 14, layers: [0, 3] }, { bits: 4, group_size: 64, sym: false, modules: 14, layers: [1, 2] }] }
    expect(storageText(storage, quant)).toBe("; int4 g32 on layers 0, 3 (14 modules); 4.47 bits per weight")
  })
  it("says only the size for one grid, and nothing without a summary", () => {
    expect(storageText({ bpw: 4.3125, grids: [{ bits: 4, group_size: 64, sym: false, modules: 28, layers: [0, 1, 2, 3] }] }, quant)).toBe("; 4.31 bits per weight")
    expect(storageText(undefined, quant)).toBe("")
  })
})
