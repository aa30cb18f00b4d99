/**
 * Run once in each workflow context the worker makes, before any run and
 * before the SDK freezes the context's built-ins (the bundle's
 * `preloadModules`, src/worker/create-worker.ts). Holds no state of any run.
 *
 * The SDK records a stack trace for every promise workflow code makes (its
 * promise hook, for the stack-trace query), mapping each frame through the
 * bundle's source map. That hook was the largest share of the workflow
 * thread's time per run (docs/BENCHMARKS.md#gateway-load), and its cost grows
 * with the frames taken. A trace keeps the frames where a run waits: the
 * hook's own frame, the promise's, and the four workflow functions above
 * them (for a step: the SDK's scheduling, the step's handler, the step and
 * its caller). Errors thrown in workflow code keep as many.
 */
Error.stackTraceLimit = 6;

export {};
