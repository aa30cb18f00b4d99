/** Which claims on a SENDING ledger row a retried attempt may take over at once. */
import { describe, expect, it } from 'vitest';
import { claimedByEarlierAttempt } from '../../activities/delivery';

const attempt = (n: number, activity = '3', run = 'run-1') => `wf-1/${run}/${activity}#${n}`;

describe('claimedByEarlierAttempt', () => {
  it('lets a later attempt of the same activity take over', () => {
    expect(claimedByEarlierAttempt(attempt(1), attempt(2))).toBe(true);
    expect(claimedByEarlierAttempt(attempt(2), attempt(5))).toBe(true);
  });

  it('leaves the row to its holder otherwise', () => {
    expect(claimedByEarlierAttempt(attempt(2), attempt(2))).toBe(false);
    expect(claimedByEarlierAttempt(attempt(3), attempt(2))).toBe(false);
    // Another activity, or the same step in another run (a reset), waits out the lease.
    expect(claimedByEarlierAttempt(attempt(1, '4'), attempt(2))).toBe(false);
    expect(claimedByEarlierAttempt(attempt(1, '3', 'run-0'), attempt(2))).toBe(false);
    // Rows written before claims were recorded, and deliveries outside an activity.
    expect(claimedByEarlierAttempt(null, attempt(2))).toBe(false);
    expect(claimedByEarlierAttempt(attempt(1), null)).toBe(false);
  });
});
