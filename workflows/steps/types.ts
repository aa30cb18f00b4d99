import type { Step } from '../../src/shared/definition';
import type { RunContext } from '../context';

/** Runs a list of steps in order (used by steps that contain steps). */
export type RunSteps = (steps: Step[], ctx: RunContext) => Promise<void>;

/**
 * The workflow side of one step type: does the step's work and returns its
 * output, which later steps read as `steps.<id>.output`: a promise of it, or
 * (in a V2 run, when the work needs no waiting) the output itself.
 */
export type StepHandler<S extends Step> = (step: S, path: string, ctx: RunContext, runSteps: RunSteps) => unknown;
