/**
 * polyquant's public TypeScript API: `import { workflow, step } from "polyquant"`.
 * Workflows written in TypeScript, and the functions to load, check, plan and evaluate them.
 */
export { workflow, step, definitionOf, type StepDefinition, type StepOptions, type KernelStepOptions, type CustomStepOptions, type WorkflowDefinitionInput } from "./workflow/dsl.js"
export { loadWorkflowFile, checkWorkflow, checkWorkflowText, type LoadOptions, type LoadResult } from "./workflow/load.js"
export { loadWorkflow } from "./workflow/loadWorkflow.js"
export { evaluateCondition, resolveWith, type StepState, type StepsState } from "./workflow/conditions.js"
export { WorkflowInvalidError, WorkflowFileError, ConditionEvaluationError, formatIssue, type WorkflowIssue } from "./workflow/errors.js"
export type { Workflow, WorkflowStep, CustomStep, MatrixSpec } from "./workflow/types.js"
export { workflowJsonSchema } from "./workflow/schema.js"
export { plan, type PlanOptions } from "./plan/plan.js"
export { formatPlan } from "./plan/print.js"
export type { Plan, PlannedStep, PlannedCondition, BudgetSpec, PlatformSpec } from "./plan/types.js"
export { kernels, findKernel, kernelNames } from "./kernels/catalog.js"
export { defineKernel, type KernelDefinition } from "./kernels/define.js"
export * as schemas from "./kernels/common.js"
// so that a workflow.ts needs only `import { workflow, step, z, Effect } from "polyquant"`
export { z } from "zod"
export { Effect } from "effect"
