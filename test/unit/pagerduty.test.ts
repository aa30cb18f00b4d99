/**
 * The `pagerduty` step's schema: what each action needs, as written in a
 * definition and again as its activity receives it, rendered.
 */
import { describe, expect, it } from 'vitest';
import { sendPagerDutyInput } from '../../channels/pagerduty/schema';
import { defaultDedupKey } from '../../channels/pagerduty/sender';
import { parseDefinition } from '../../src/shared/definition';
import { jsonPath } from '../../src/shared/json-path';

const trigger = {
  id: 'page',
  type: 'pagerduty',
  action: 'trigger',
  dedupKey: 'order-{{ input.orderId }}',
  summary: 'Payment failed for order {{ input.orderId }}',
  source: 'checkout',
  severity: 'critical',
  customDetails: { amount: '{{ input.amount }}' },
};

function parse(...steps: unknown[]) {
  return parseDefinition({ key: 'incident', name: 'Incident', steps });
}

function problems(...steps: unknown[]): string[] {
  const result = parse(...steps);
  return result.ok ? [] : result.problems.map((p) => `${jsonPath(p.path)}: ${p.message}`);
}

describe('the pagerduty step', () => {
  it('accepts a trigger, then an acknowledge and a resolve naming its dedup key, with the fields of every message step', () => {
    const result = parse(
      { ...trigger, retry: { maximumAttempts: 3 }, delivery: 'at-most-once' },
      { id: 'ack', type: 'pagerduty', action: 'acknowledge', dedupKey: '{{ steps.page.output.dedupKey }}' },
      { id: 'done', type: 'pagerduty', action: 'resolve', dedupKey: '{{ steps.page.output.dedupKey }}', timeout: '10s' },
    );
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.definition.steps[0]).toEqual({ ...trigger, retry: { maximumAttempts: 3 }, delivery: 'at-most-once' });
  });

  it('takes a trigger without a dedup key: the activity makes one of the delivery key', () => {
    const { dedupKey: _, ...withoutKey } = trigger;
    expect(problems(withoutKey)).toEqual([]);
    expect(defaultDedupKey('wf-1/page')).toBe('wf-1/page');
    const long = `wf-${'x'.repeat(300)}/page`;
    expect(defaultDedupKey(long)).toMatch(/^wfa-[0-9a-f]{64}$/);
    expect(defaultDedupKey(long)).toBe(defaultDedupKey(long));
  });

  it('needs summary, source and severity on a trigger', () => {
    expect(problems({ id: 'page', type: 'pagerduty', action: 'trigger' })).toEqual([
      '$.steps[0].summary: a trigger needs summary',
      '$.steps[0].source: a trigger needs source',
      '$.steps[0].severity: a trigger needs severity',
    ]);
  });

  it('needs the dedup key on acknowledge and resolve, and refuses what only a trigger takes', () => {
    expect(problems({ id: 'ack', type: 'pagerduty', action: 'acknowledge' })).toEqual([
      '$.steps[0].dedupKey: acknowledge needs the dedupKey of the incident',
    ]);
    expect(problems({ id: 'done', type: 'pagerduty', action: 'resolve', dedupKey: 'k', summary: 'x', customDetails: {} })).toEqual([
      '$.steps[0].summary: summary applies to a trigger only',
      '$.steps[0].customDetails: customDetails applies to a trigger only',
    ]);
  });

  it('refuses an unknown action or severity, an unknown field and a summary past 1024 characters', () => {
    const [action] = problems({ ...trigger, action: 'snooze' });
    expect(action).toMatch(/^\$\.steps\[0\]\.action: .*trigger.*acknowledge.*resolve/);
    const [severity] = problems({ ...trigger, severity: 'high' });
    expect(severity).toMatch(/^\$\.steps\[0\]\.severity: .*critical.*error.*warning.*info/);
    expect(problems({ ...trigger, routingKey: 'R0123' })).toEqual([expect.stringMatching(/^\$\.steps\[0\]: .*routingKey/)]);
    expect(problems({ ...trigger, summary: 'x'.repeat(1025) })).toEqual([expect.stringMatching(/^\$\.steps\[0\]\.summary: /)]);
  });

  it('checks the rendered input with the same limits: a dedup key that rendered empty is refused', () => {
    const input = { deliveryKey: 'wf-1/ack', action: 'resolve', dedupKey: 'order-42' };
    expect(sendPagerDutyInput.parse(input)).toEqual({ ...input, delivery: 'at-least-once' });
    expect(sendPagerDutyInput.safeParse({ ...input, dedupKey: '' }).success).toBe(false);
    expect(sendPagerDutyInput.safeParse({ deliveryKey: 'wf-1/page', action: 'trigger', summary: 'x', source: 'y' }).error?.issues).toEqual([
      expect.objectContaining({ path: ['severity'], message: 'a trigger needs severity' }),
    ]);
  });
});
