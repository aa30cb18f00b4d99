/**
 * How a run moves between builds of the worker under Worker Versioning
 * (src/worker/versioning.ts). Workflow-safe: the interpreter reads the run's
 * choice from its memo.
 */

/**
 * A definition's choice (`"versioning"`): `auto-upgrade` runs move to the
 * current build at their next workflow task, guarded by `patched()` and the
 * recorded histories; `pinned` runs finish on the build they started on.
 */
export const RUN_VERSIONING = ['auto-upgrade', 'pinned'] as const;
export type RunVersioning = (typeof RUN_VERSIONING)[number];

/** The memo field a run carries its choice in, when it is not the default. */
export const VERSIONING_MEMO = 'versioning';
