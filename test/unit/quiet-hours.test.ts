import { describe, expect, it } from 'vitest';
import { isTimeZone, quietHoursEnd, secondsOfDay } from '../../src/shared/quiet-hours';

const at = (iso: string) => Date.parse(iso);
const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());

describe('quiet hours', () => {
  it('parses times of day and refuses the rest', () => {
    expect(secondsOfDay('00:00')).toBe(0);
    expect(secondsOfDay('21:30')).toBe(77_400);
    expect(secondsOfDay('07:00:15')).toBe(25_215);
    for (const bad of ['24:00', '7:00', '12:60', '12:00:60', 'noon', '']) expect(secondsOfDay(bad)).toBeUndefined();
  });

  it('knows IANA zones and refuses made-up ones', () => {
    expect(isTimeZone('Europe/Berlin')).toBe(true);
    expect(isTimeZone('UTC')).toBe(true);
    expect(isTimeZone('Mars/Olympus_Mons')).toBe(false);
  });

  it('lets a message through outside the window', () => {
    const window = { start: '21:00', end: '08:00', timeZone: 'UTC' };
    expect(quietHoursEnd(at('2026-03-10T12:00:00Z'), window)).toBeUndefined();
    expect(quietHoursEnd(at('2026-03-10T08:00:00Z'), window)).toBeUndefined();
    expect(quietHoursEnd(at('2026-03-10T20:59:59Z'), window)).toBeUndefined();
  });

  it('holds a message until the end of a window across midnight, before and after midnight', () => {
    const window = { start: '21:00', end: '08:00', timeZone: 'UTC' };
    expect(iso(quietHoursEnd(at('2026-03-10T21:00:00Z'), window))).toBe('2026-03-11T08:00:00.000Z');
    expect(iso(quietHoursEnd(at('2026-03-11T03:15:42.500Z'), window))).toBe('2026-03-11T08:00:00.000Z');
  });

  it('holds a message until the end of a window within one day', () => {
    const window = { start: '12:00', end: '13:30', timeZone: 'UTC' };
    expect(iso(quietHoursEnd(at('2026-03-10T12:45:00Z'), window))).toBe('2026-03-10T13:30:00.000Z');
  });

  it("reads the clock in the recipient's zone, including zones off the whole hour", () => {
    // 02:00 UTC is 21:00 the day before in New York (EST, UTC-5) and 07:30 in Kolkata (UTC+5:30).
    const now = at('2026-01-15T02:00:00Z');
    expect(iso(quietHoursEnd(now, { start: '21:00', end: '08:00', timeZone: 'America/New_York' }))).toBe('2026-01-15T13:00:00.000Z');
    expect(iso(quietHoursEnd(now, { start: '22:00', end: '08:00', timeZone: 'Asia/Kolkata' }))).toBe('2026-01-15T02:30:00.000Z');
    expect(quietHoursEnd(now, { start: '22:00', end: '07:00', timeZone: 'Asia/Kolkata' })).toBeUndefined();
  });

  it('ends at the local end time on the night the clocks go forward or back', () => {
    // Berlin: 2026-03-29 02:00 CET → 03:00 CEST; 2026-10-25 03:00 CEST → 02:00 CET.
    const window = { start: '22:00', end: '08:00', timeZone: 'Europe/Berlin' };
    expect(iso(quietHoursEnd(at('2026-03-28T22:00:00Z'), window))).toBe('2026-03-29T06:00:00.000Z');
    expect(iso(quietHoursEnd(at('2026-10-24T21:00:00Z'), window))).toBe('2026-10-25T07:00:00.000Z');
  });

  it('does not end inside the hour a spring-forward skips', () => {
    // The local time 02:30 does not exist in Berlin on 2026-03-29; the hold ends after the gap, not before it.
    const end = quietHoursEnd(at('2026-03-29T00:15:00Z'), { start: '01:00', end: '02:30', timeZone: 'Europe/Berlin' });
    expect(end).toBeGreaterThanOrEqual(at('2026-03-29T01:00:00Z'));
    expect(end).toBeLessThanOrEqual(at('2026-03-29T02:00:00Z'));
  });

  it('treats equal start and end as no window, and refuses an unknown zone', () => {
    expect(quietHoursEnd(at('2026-03-10T12:00:00Z'), { start: '12:00', end: '12:00', timeZone: 'UTC' })).toBeUndefined();
    expect(() => quietHoursEnd(Date.now(), { start: '21:00', end: '08:00', timeZone: 'Nowhere/Special' })).toThrow(RangeError);
  });
});
