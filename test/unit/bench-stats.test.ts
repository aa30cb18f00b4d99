import { describe, expect, it } from 'vitest';
import { pairedRatio, quantile, summarize, type Table } from '../../scripts/bench/stats';

const table = (rows: Table['rows']): Table => ({ title: 't', latencyNote: 'n', throughputUnit: 'runs/s', rows, notes: [] });

describe('pairedRatio', () => {
  it('takes the median of the rounds own ratios, so drift that reaches both variants of a round cancels', () => {
    // The machine slows down round by round; the variant is always 0.9 of its baseline within a round.
    const base = [100, 80, 60, 40, 20];
    const variant = base.map((r) => r * 0.9);
    expect(pairedRatio(variant, base)).toBeCloseTo(0.9, 10);
  });

  it('is robust to one disturbed round', () => {
    expect(pairedRatio([90, 90, 10, 90], [100, 100, 100, 100])).toBeCloseTo(0.9, 10);
  });

  it('refuses rounds that do not pair', () => {
    expect(() => pairedRatio([1, 2], [1])).toThrow(/as many on both sides/);
    expect(() => pairedRatio([], [])).toThrow(/at least one/);
  });
});

describe('summarize', () => {
  it('pairs the throughput ratio round by round when both rows have their rounds', () => {
    // Medians 60 and 60 would say ×1.00; round by round the variant is always slower.
    const [, variant] = summarize(
      table([
        { variant: 'base', samples: [10], throughput: 60, rounds: [20, 60, 100] },
        { variant: 'v', samples: [12], throughput: 60, rounds: [18, 54, 60], baseline: 'base' },
      ]),
    );
    expect(variant!.throughputRatio).toBeCloseTo(0.9, 10);
    expect(variant!.latencyRatio).toBeCloseTo(1.2, 10);
  });

  it('falls back to the ratio of the throughputs without rounds', () => {
    const [base, variant] = summarize(
      table([
        { variant: 'base', samples: [10, 20, 30], throughput: 50 },
        { variant: 'v', samples: [10, 20, 30], throughput: 40, baseline: 'base' },
      ]),
    );
    expect(base!.throughputRatio).toBeUndefined();
    expect(variant!.throughputRatio).toBeCloseTo(0.8, 10);
    expect(variant!.median).toBe(20);
  });
});

describe('quantile', () => {
  it('answers a measured sample by nearest rank', () => {
    const samples = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(quantile(samples, 0.95)).toBe(95);
    expect(quantile(samples, 0.99)).toBe(99);
    expect(quantile([], 0.5)).toBeNaN();
  });
});
