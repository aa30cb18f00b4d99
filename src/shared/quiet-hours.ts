/**
 * Quiet hours: a daily window, in the recipient's time zone, during which a
 * notification waits instead of going out. Pure and workflow-safe: the
 * interpreter calls it with workflow time, so replay computes the same wait.
 */

/** `HH:MM` or `HH:MM:SS`, 24-hour clock. */
export const TIME_OF_DAY = /^([01]\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?$/;

const DAY_SECONDS = 86_400;

export interface QuietHours {
  /** When the quiet window starts, local time, e.g. `21:00`. */
  start: string;
  /** When it ends, local time, e.g. `08:00`; earlier than `start` for a window across midnight. */
  end: string;
  /** IANA time zone of the recipient, e.g. `Europe/Berlin`. */
  timeZone: string;
}

/** Seconds since midnight of a `HH:MM[:SS]` time, or undefined when it does not parse. */
export function secondsOfDay(time: string): number | undefined {
  const m = TIME_OF_DAY.exec(time);
  if (!m) return undefined;
  return Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3] ?? 0);
}

const formats = new Map<string, Intl.DateTimeFormat>();

function formatFor(timeZone: string): Intl.DateTimeFormat {
  let format = formats.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', hour: '2-digit', minute: '2-digit', second: '2-digit' });
    formats.set(timeZone, format);
  }
  return format;
}

/** Whether `timeZone` names a time zone this runtime knows (IANA names such as `America/New_York`, or `UTC`). */
export function isTimeZone(timeZone: string): boolean {
  try {
    formatFor(timeZone);
    return true;
  } catch {
    return false;
  }
}

/** The wall-clock time in `timeZone` at `ms`, as whole seconds since local midnight. */
function localSeconds(ms: number, timeZone: string): number {
  let h = 0;
  let m = 0;
  let s = 0;
  for (const part of formatFor(timeZone).formatToParts(new Date(ms))) {
    if (part.type === 'hour') h = Number(part.value);
    else if (part.type === 'minute') m = Number(part.value);
    else if (part.type === 'second') s = Number(part.value);
  }
  return h * 3600 + m * 60 + s;
}

function inside(local: number, start: number, end: number): boolean {
  return start < end ? local >= start && local < end : local >= start || local < end;
}

/**
 * When the quiet window that `now` falls in ends (epoch ms), or undefined when
 * `now` is outside it. Daylight-saving changes are accounted for: the answer
 * is the instant the local clock shows `end`, or, when that local time is
 * skipped that day, an instant within the hour after the gap.
 *
 * @throws RangeError for an unknown time zone or a time that does not parse
 */
export function quietHoursEnd(now: number, window: QuietHours): number | undefined {
  const start = secondsOfDay(window.start);
  const end = secondsOfDay(window.end);
  if (start === undefined || end === undefined) throw new RangeError(`quiet hours need HH:MM times, got ${window.start}–${window.end}`);
  if (start === end) return undefined;
  const local = localSeconds(now, window.timeZone);
  if (!inside(local, start, end)) return undefined;
  const wholeSecond = now - (((now % 1000) + 1000) % 1000);
  const naive = wholeSecond + (((end - local + DAY_SECONDS) % DAY_SECONDS) * 1000);
  // A clock change inside the wait moves the end by the change: correct by the
  // signed difference between the local time reached and the one wanted.
  const reached = localSeconds(naive, window.timeZone);
  const drift = ((((end - reached) % DAY_SECONDS) + DAY_SECONDS + DAY_SECONDS / 2) % DAY_SECONDS) - DAY_SECONDS / 2;
  const corrected = naive + drift * 1000;
  if (corrected > now && !inside(localSeconds(corrected, window.timeZone), start, end)) return corrected;
  return naive;
}
