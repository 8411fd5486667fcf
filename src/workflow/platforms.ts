/**
 * Built-in platforms: where a step runs, and how much GPU memory it has there (the seed's
 * platform table). `local` is this machine: the CLI fills in what it finds (doctor), else a CPU.
 */
import type { PlatformSpec } from "../plan/types.js"

export const BUILTIN_PLATFORMS: Readonly<Record<string, PlatformSpec>> = {
  local: { name: "local", gpu: "cpu", vramGb: 0 },
  "colab-free": { name: "colab-free", gpu: "T4", vramGb: 16 },
  "colab-pro": { name: "colab-pro", gpu: "A100", vramGb: 40 },
  kaggle: { name: "kaggle", gpu: "P100/T4", vramGb: 16 }
}

export const DEFAULT_PLATFORM = "local"
