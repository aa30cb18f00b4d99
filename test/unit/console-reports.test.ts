import { describe, expect, it } from 'vitest';
import { deliveriesByConnection } from '../../console/src/reports';

describe("the console's deliveries per connection", () => {
  it('adds up each connection’s days and channels by status, leaving the environment’s settings out', () => {
    const row = (day: string, connection: string | null, status: string, deliveries: number) => ({ day, channel: 'email', connection, status, deliveries, attempts: deliveries });
    const folded = deliveriesByConnection([
      row('2026-12-06', 'ops-mail', 'SENT', 3),
      row('2026-12-06', 'ops-mail', 'FAILED', 1),
      row('2026-12-05', 'ops-mail', 'SENT', 2),
      row('2026-12-06', null, 'SENT', 40),
      row('2026-12-06', 'sales-mail', 'SENT', 1),
    ]);
    expect([...folded]).toEqual([
      ['ops-mail', { SENT: 5, FAILED: 1 }],
      ['sales-mail', { SENT: 1 }],
    ]);
  });
});
