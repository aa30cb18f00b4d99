/**
 * The schema of a quiet-hours window (src/shared/quiet-hours.ts), declared
 * once for the two places that take one: a message step's `quietHours`,
 * whose time zone may be a template, and a connection's, whose zone is
 * written out. Apart from src/shared/quiet-hours.ts, which the workflow
 * bundle loads, so that zod stays out of it.
 */
import { z } from 'zod';
import { TIME_OF_DAY } from './quiet-hours';

const TIME_ZONE_MESSAGE = 'must be an IANA time zone such as Europe/Berlin or America/New_York';

/** A window from `start` to `end` (local times that differ) in `timeZone`, which `acceptsZone` checks. */
export function quietHoursWindow(acceptsZone: (timeZone: string) => boolean) {
  return z
    .object({
      start: z.string().regex(TIME_OF_DAY, 'must be a time of day such as 21:00 or 07:30:00'),
      end: z.string().regex(TIME_OF_DAY, 'must be a time of day such as 08:00 or 07:30:00'),
      timeZone: z.string().min(1).max(200).refine(acceptsZone, { message: TIME_ZONE_MESSAGE }),
    })
    .strict()
    .refine((q) => q.start !== q.end, { message: 'start and end must differ', path: ['end'] });
}
