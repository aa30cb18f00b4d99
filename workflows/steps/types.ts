import type { Step } from '../../src/shared/definition';
import type { RunContext } from '../context';

/** Runs a list of steps in order, in the context given (used by steps that contain steps). */
export type RunSteps<C = RunContext> = (steps: Step[], ctx: C) => Promise<void>;

/**
 * The members of the run's context a step handler uses: a handler declares
 * them, is given the run's context, and hands it on unchanged to `runSteps`.
 * A handler's unit test passes a fake of just these.
 */
export type Ports<K extends keyof RunContext> = Pick<RunContext, K>;

/** The context of a loop iteration, of the kind the handler was given (what `foreach` needs). */
export interface Iterates<C> {
  iteration(prefix: string, item: unknown, index: number): C;
}

/**
 * The workflow side of one step type: does the step's work and returns its
 * output, which later steps read as `steps.<id>.output`: a promise of it, or
 * (in a V2 run, when the work needs no waiting) the output itself. `P` is
 * what it uses of the run's context.
 */
export type StepHandler<S extends Step, P = RunContext> = <C extends P>(step: S, path: string, ctx: C, runSteps: RunSteps<C>) => unknown;

/** A handler as the registry holds it: given the run's context, whatever it declares it uses. */
export type RegisteredHandler<S extends Step> = <C extends RunContext & Iterates<C>>(step: S, path: string, ctx: C, runSteps: RunSteps<C>) => unknown;
