/**
 * A patch more than one part of a run checks. Each part's own patches live
 * beside the code they guard.
 */

/**
 * Changes released together, under one patch so a run records one marker for
 * them: plain paths in expressions skip JSONata (run/scope.ts); the mirror is
 * written before an activity only when it is `MIRROR_MAX_LAG_MS` behind
 * (always before a wait and at the end); the CurrentStep search attribute
 * moves when the mirror is written, not at every top-level step (run/journal.ts).
 */
export const PATCH_LEAN_RUNS = 'lean-runs-2026-11';
