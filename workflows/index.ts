/**
 * The workflows the worker registers: the generic interpreter, under each of
 * its workflow types (src/shared/run.ts, INTERPRETER_WORKFLOW_TYPES), and the
 * bulk recovery batch and the retention job.
 */
import { interpreterWorkflow, interpreterWorkflowV2 } from './interpreter';
import { declareVersioningBehaviour } from './versioning';

export { decideUpdate, deliverEventUpdate, interpreterWorkflow, interpreterWorkflowV2, stateQuery } from './interpreter';
export { bulkRecoveryWorkflow } from './bulk-recovery';
export { retentionWorkflow } from './retention';

// Auto-upgrade, or pinned where the run's definition asks (workflows/versioning.ts).
declareVersioningBehaviour(interpreterWorkflow, interpreterWorkflowV2);
