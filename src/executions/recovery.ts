/**
 * Resetting and replaying closed runs, one at a time or in bulk, and the
 * audit trail of both: what the gateway's routes and the batch's activities
 * import, gathered from the modules that do each job.
 *
 * A reset redoes a failed run's failed step (or the whole run) in a new run
 * of the same workflow and execution: steps before it do not run again, and
 * the delivery ledger keeps any message already sent from going out twice. A
 * replay starts a new execution of the version the original pinned, with its
 * trigger data: everything runs, and is sent, again (recover-one.ts).
 *
 * A bulk action takes a filter over the mirror. Its dry run answers what
 * matches, grouped by definition version × failed step × error type, and
 * what would happen to each run; a real one creates a batch (its runs fixed
 * at that moment, in `recovery_batch_items`) that a Temporal workflow of its
 * own works through (workflows/bulk-recovery.ts), so it survives restarts of
 * workers and gateways (bulk-recovery.ts). Each run is claimed in
 * `recovery_claims` before it is acted on, so two batches never act on the
 * same failed run, and each step is safe to retry (recovery-batch.ts). The
 * queries are in db/recovery.ts.
 */
export { type AuditEntry, finishBatch, recordAudit } from '../../db/recovery';
export * from './bulk-recovery';
export * from './recover-one';
export * from './recovery-batch';
