/** The workflows the worker registers: exactly one, the generic interpreter. */
export { decideUpdate, deliverEventUpdate, interpreterWorkflow, stateQuery } from './interpreter';
