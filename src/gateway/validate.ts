import type { z } from 'zod';
import { HttpProblem, jsonPath } from './problem';

/** Parses request input with a zod schema, or throws a 400 naming every bad field. */
export function parseRequest<S extends z.ZodType>(schema: S, value: unknown, root: string): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const fields = result.error.issues.map((issue) => ({
    path: jsonPath([root, ...issue.path]),
    message: issue.message,
  }));
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
