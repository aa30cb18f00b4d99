/** The workflows the worker registers: exactly one, the generic interpreter. */
export { deliverEventUpdate, interpreterWorkflow, stateQuery } from './interpreter';
