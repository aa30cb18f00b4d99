/**
 * How long a test that starts runs may take, derived from what its runs need
 * rather than guessed per file: the timers they wait out, the steps they do,
 * how many of them there are, and anything else the scenario itself takes (a
 * process to start, an outage to sit through). A timeout only matters when a
 * test is stuck, so it is generous: a loaded 2-core machine (CI with another
 * suite beside it) is several times slower than a quiet one, and a red run
 * costs far more than a slow failure message. See docs/TESTING.md.
 */

/** What one step costs on a quiet machine, with its workflow task, activity and mirror writes. */
export const STEP_MS = 250;
/** How much slower than a quiet machine a loaded one may be. */
export const MARGIN = 10;
/** The least any test that starts a run gets: a worker to pick it up, Temporal and Postgres to answer. */
export const FLOOR_MS = 60_000;

export interface RunNeeds {
  /** Durable timers (delays, timeouts, pacing) one run waits out in sequence: `'6s'`, `'1500ms'`, `'2m'` or ms. @default 0 */
  timers?: string | number;
  /** Steps one run does in sequence. @default 0 */
  steps?: number;
  /** Runs the test starts; they share the workers, so their steps add up. @default 1 */
  runs?: number;
  /** How many of those runs make progress at once (concurrent starts, activities of several workers). @default 1 */
  parallel?: number;
  /** Time the scenario itself needs besides its runs (a product process to start, an outage): `'30s'` or ms. @default 0 */
  extra?: string | number;
}

/**
 * The timeout, in ms, for a test (or a wait inside one) whose runs need `needs`:
 * timers as they are (Temporal fires them on time, however busy the worker),
 * plus steps and `extra` times {@link MARGIN}, plus {@link FLOOR_MS}.
 *
 * @example it('…', async () => { … }, runTimeout({ timers: '6s', steps: 5 }))
 */
export function runTimeout({ timers = 0, steps = 0, runs = 1, parallel = 1, extra = 0 }: RunNeeds = {}): number {
  return Math.ceil(ms(timers) + MARGIN * ((steps * runs * STEP_MS) / Math.max(1, Math.min(parallel, runs)) + ms(extra)) + FLOOR_MS);
}

/** `'1500ms'`, `'6s'`, `'2m'` or a number of ms, as ms. */
export function ms(duration: string | number): number {
  if (typeof duration === 'number') return duration;
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(duration.trim());
  if (!match) throw new Error(`not a duration: ${duration}`);
  return Number(match[1]) * { ms: 1, s: 1_000, m: 60_000 }[match[2] as 'ms' | 's' | 'm'];
}
