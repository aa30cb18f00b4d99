import { z } from 'zod';
import { issueMessage } from '../shared/issue-messages';
import { HttpProblem, jsonPath } from './problem';

/** The content types read as JSON bodies; a body of another type is refused with 415. */
export const JSON_TYPES = ['application/json', 'application/*+json'];

/**
 * A whole number in a query string or a path (`limit`, `offset`, a version):
 * anything else, `abc`, `1.5` or out of range, is refused with one message
 * that says what is wanted.
 */
export function wholeNumber(min: number, max?: number) {
  const error = `must be a whole number ${max === undefined ? `of ${min} or more` : `from ${min} to ${max}`}`;
  const atLeast = z.coerce.number({ error }).int({ error }).min(min, { error });
  return max === undefined ? atLeast : atLeast.max(max, { error });
}

/** Parses request input with a zod schema, or throws a 400 naming every bad field. */
export function parseRequest<S extends z.ZodType>(schema: S, value: unknown, root: string): z.output<S> {
  const result = schema.safeParse(value, { error: issueMessage });
  if (result.success) return result.data;
  const fields: { path: string; message: string }[] = [];
  for (const issue of result.error.issues) {
    const field = { path: jsonPath([root, ...issue.path]), message: issue.message };
    // Several checks of one field can fail with one message (`-1.5` is neither whole nor in range): say it once.
    if (!fields.some((f) => f.path === field.path && f.message === field.message)) fields.push(field);
  }
  throw new HttpProblem(
    'validation_failed',
    `the request is invalid: ${fields.map((f) => `${f.path} ${f.message}`).join('; ')}`,
    fields,
  );
}

/**
 * Whether objects and arrays in `value` nest deeper than `max` levels (a
 * top-level object or array is level 1). Stops descending past `max`, so
 * hostile input costs no deep recursion.
 */
export function nestingDepthExceeds(value: unknown, max: number): boolean {
  if (value === null || typeof value !== 'object') return false;
  if (max <= 0) return true;
  const children = Array.isArray(value) ? value : Object.values(value);
  return children.some((child) => nestingDepthExceeds(child, max - 1));
}
