import { describe, expect, it } from 'vitest';
import { concludedRuns, successRate } from '../../src/shared/success-rate';

describe('the success rate', () => {
  it('is succeeded out of the runs that ended on their own', () => {
    expect(successRate({ succeeded: 2, failed: 1, timedOut: 1 })).toBe(0.5);
    expect(successRate({ succeeded: 2, failed: 1, timedOut: 0 })).toBe(0.6667);
    expect(concludedRuns({ succeeded: 2, failed: 1, timedOut: 1 })).toBe(4);
  });

  it('has no value while no run ended on its own (only cancelled or terminated ones, or none)', () => {
    expect(successRate({ succeeded: 0, failed: 0, timedOut: 0 })).toBeNull();
  });
});
