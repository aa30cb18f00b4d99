/**
 * The benchmark worker's workflows, in one bundle: the product's generic
 * interpreter, and the same work written by hand directly against Temporal, as
 * a baseline (scripts/bench/hand-written.ts).
 *
 * Workflow code: deterministic, bundled into Temporal's sandbox.
 */
export { deliverEventUpdate, interpreterWorkflow, interpreterWorkflowV2, stateQuery } from '../../workflows/index';
export * from './hand-written';
