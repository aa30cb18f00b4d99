/** The workflows the worker registers: exactly one, the generic interpreter. */
export { interpreterWorkflow, stateQuery } from './interpreter';
