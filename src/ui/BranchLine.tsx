/** One branch decision with the values that decided it: "colab_001: disparity 1.42 [1.10, 1.81] < 2 → colab_002". */
import { Text } from "ink"
import { describeBranch } from "./format.js"
import type { BranchView } from "./state.js"

export interface BranchLineProps {
  readonly branch: BranchView
  readonly outputsOf?: (stepId: string) => unknown
}

export const BranchLine = ({ branch, outputsOf }: BranchLineProps) => (
  <Text color={branch.result ? "green" : "gray"} wrap="truncate-end">
    {"⎇ "}
    {describeBranch(branch, outputsOf)}
  </Text>
)
