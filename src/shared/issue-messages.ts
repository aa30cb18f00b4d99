/**
 * zod's issues in the words the API uses everywhere else: "is required",
 * "must be a string, not a number", "must be one of approve, reject". Given to
 * every parse of input a person wrote (request bodies, definitions, a step's
 * rendered input); a schema's own message still wins. The input's value is
 * never repeated, only its kind, as it may be a secret.
 */
import type { z } from 'zod';

export const issueMessage: z.core.$ZodErrorMap = (issue) => {
  // A missing field, whatever it should have been: a string, one of a list, one of several shapes.
  if (issue.input === undefined && (issue.code === 'invalid_type' || issue.code === 'invalid_value' || issue.code === 'invalid_union')) {
    return 'is required';
  }
  switch (issue.code) {
    case 'invalid_type':
      // Other kinds (`never`, a function…) keep zod's own words.
      return KIND_NAMES[issue.expected] ? `must be ${KIND_NAMES[issue.expected]}, not ${kindOf(issue.input)}` : undefined;
    case 'invalid_value':
      return issue.values.length === 1 ? `must be ${JSON.stringify(issue.values[0])}` : `must be one of ${issue.values.map(String).join(', ')}`;
    case 'too_small':
      return bound('at least', issue.origin, Number(issue.minimum), issue.inclusive !== false);
    case 'too_big':
      return bound('at most', issue.origin, Number(issue.maximum), issue.inclusive !== false);
    case 'unrecognized_keys':
      return `does not take ${issue.keys.map((key) => JSON.stringify(key)).join(', ')}`;
    default:
      return undefined;
  }
};

/** "must be at least 1 character", "must be 5 or less", "must have at most 100 items". */
function bound(side: 'at least' | 'at most', origin: string, limit: number, inclusive: boolean): string | undefined {
  const n = inclusive ? limit : side === 'at least' ? limit + 1 : limit - 1;
  switch (origin) {
    case 'string':
      if (side === 'at least' && n === 1) return 'must not be empty';
      return `must be ${side} ${n} character${n === 1 ? '' : 's'}`;
    case 'array':
    case 'set':
      if (side === 'at least' && n === 1) return 'must not be empty';
      return `must have ${side} ${n} item${n === 1 ? '' : 's'}`;
    case 'number':
    case 'int':
    case 'bigint':
      if (!inclusive) return `must be ${side === 'at least' ? 'more' : 'less'} than ${limit}`;
      return `must be ${limit} or ${side === 'at least' ? 'more' : 'less'}`;
    default:
      return undefined;
  }
}

const KIND_NAMES: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  bigint: 'a whole number',
  date: 'a date',
  array: 'an array',
  object: 'an object',
  record: 'an object',
  null: 'null',
};

function kindOf(input: unknown): string {
  if (input === null) return 'null';
  if (Array.isArray(input)) return 'an array';
  if (typeof input === 'number' && Number.isNaN(input)) return 'NaN';
  if (typeof input === 'boolean') return 'a boolean';
  return KIND_NAMES[typeof input] ?? typeof input;
}
