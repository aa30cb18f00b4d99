import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { issueMessage } from '../../src/shared/issue-messages';

const schema = z
  .object({
    name: z.string().min(1).max(5),
    to: z.union([z.string(), z.array(z.string())]),
    decision: z.enum(['approve', 'reject']),
    kind: z.literal('email'),
    attempts: z.number().int().min(1).max(10),
    ratio: z.number().gt(0).lt(1),
    tags: z.array(z.string()).min(1).max(2),
    enabled: z.boolean(),
    id: z.string().regex(/^[a-z]+$/, 'must be lower-case letters'),
  })
  .strict();

function messages(input: unknown): Record<string, string> {
  const result = schema.safeParse(input, { error: issueMessage });
  if (result.success) return {};
  return Object.fromEntries(result.error.issues.map((issue) => [issue.path.join('.') || '$', issue.message]));
}

describe('issue messages', () => {
  it('say a missing field is required, whatever its shape', () => {
    expect(messages({})).toMatchObject({ name: 'is required', to: 'is required', decision: 'is required', tags: 'is required' });
  });

  it('name the kind wanted and the kind given, never the value', () => {
    const said = messages({ name: 5, to: 'a', decision: 'approve', kind: 'email', attempts: 'three', ratio: 0.5, tags: {}, enabled: 'yes', id: null });
    expect(said).toEqual({
      name: 'must be a string, not a number',
      attempts: 'must be a number, not a string',
      tags: 'must be an array, not an object',
      enabled: 'must be true or false, not a string',
      id: 'must be a string, not null',
    });
    expect(JSON.stringify(said)).not.toContain('three');
  });

  it('list the values allowed, and the bounds in words', () => {
    expect(messages({ name: '', to: 'a', decision: 'maybe', kind: 'sms', attempts: 0, ratio: 1, tags: [], enabled: true, id: 'x' })).toEqual({
      name: 'must not be empty',
      decision: 'must be one of approve, reject',
      kind: 'must be "email"',
      attempts: 'must be 1 or more',
      ratio: 'must be less than 1',
      tags: 'must not be empty',
    });
    expect(messages({ name: 'toolong', to: 'a', decision: 'reject', kind: 'email', attempts: 11, ratio: 0, tags: ['a', 'b', 'c'], enabled: true, id: 'x' })).toEqual({
      name: 'must be at most 5 characters',
      attempts: 'must be 10 or less',
      ratio: 'must be more than 0',
      tags: 'must have at most 2 items',
    });
  });

  it("leave a schema's own message, and name the fields a strict object does not take", () => {
    expect(messages({ name: 'a', to: ['b'], decision: 'approve', kind: 'email', attempts: 1, ratio: 0.5, tags: ['t'], enabled: false, id: 'A1', extra: 1, more: 2 })).toEqual({
      id: 'must be lower-case letters',
      $: 'does not take "extra", "more"',
    });
  });
});
