/**
 * Execution statuses, shared by the mirror, the API and reports. Workflow-safe.
 */
export const EXECUTION_STATUSES = [
  'PENDING',
  'RUNNING',
  'SUCCESS',
  'FAILED',
  'CANCELLED',
  'TERMINATED',
  'TIMED_OUT',
] as const;

export type ExecutionStatus = (typeof EXECUTION_STATUSES)[number];

export const TERMINAL_STATUSES = ['SUCCESS', 'FAILED', 'CANCELLED', 'TERMINATED', 'TIMED_OUT'] as const;

export type TerminalStatus = (typeof TERMINAL_STATUSES)[number];

export function isTerminal(status: string): status is TerminalStatus {
  return (TERMINAL_STATUSES as readonly string[]).includes(status);
}

export function isExecutionStatus(value: string): value is ExecutionStatus {
  return (EXECUTION_STATUSES as readonly string[]).includes(value);
}

/** What happened to a step; one mirror log row per event. MIGRATED: the run moved onto another definition version while it waited here. */
export const STEP_EVENTS = ['STARTED', 'COMPLETED', 'FAILED', 'SKIPPED', 'MIGRATED'] as const;

export type StepEvent = (typeof STEP_EVENTS)[number];

/**
 * A delivery ledger row's status (db/schema.ts `DeliveryTable`; the table's check constraint lists
 * the same): SENDING before the provider is called, then SENT, FAILED (the provider did not take
 * it) or UNKNOWN (it may have).
 */
export const DELIVERY_STATUSES = ['SENDING', 'SENT', 'FAILED', 'UNKNOWN'] as const;

export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];
