/**
 * A definition's `inputSchema` (JSON Schema, draft 2020-12): checked when the
 * definition is saved, and applied to trigger data before a run starts, so
 * bad input is a 400 naming the field rather than a failed run.
 */
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import { jsonPath } from '../shared/json-path';

export interface InputProblem {
  /** JSON path inside the trigger data, e.g. `$.customer.email`; a route puts it under where the data sits (`$.body.triggerData.customer.email`). */
  path: string;
  message: string;
}

const ajv = new Ajv2020({ allErrors: true, strict: false, validateFormats: false });
const compiled = new Map<string, ValidateFunction>();
/**
 * The same, by the schema object itself: a start's schema is the one object
 * of its pinned definition version (kept parsed per process), so most starts
 * find it here without serializing it. Schemas are never changed in place.
 */
const compiledObjects = new WeakMap<Record<string, unknown>, ValidateFunction>();

/** Compiles (and caches by content) a schema; throws with the reason when it is not a valid schema. */
export function compileInputSchema(schema: Record<string, unknown>): ValidateFunction {
  const known = compiledObjects.get(schema);
  if (known) return known;
  const cacheKey = JSON.stringify(schema);
  let validate = compiled.get(cacheKey);
  if (!validate) {
    validate = ajv.compile(schema);
    if (compiled.size > 1_000) compiled.clear();
    compiled.set(cacheKey, validate);
  }
  compiledObjects.set(schema, validate);
  return validate;
}

/** Returns why the schema cannot be used, or undefined when it compiles. */
export function inputSchemaProblem(schema: Record<string, unknown>): string | undefined {
  try {
    compileInputSchema(schema);
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

export function validateTriggerData(schema: Record<string, unknown> | undefined, data: unknown): InputProblem[] {
  if (!schema) return [];
  const validate = compileInputSchema(schema);
  if (validate(data)) return [];
  return (validate.errors ?? []).map(describe);
}

function describe(error: ErrorObject): InputProblem {
  const segments = error.instancePath
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (error.keyword === 'required') segments.push(String(error.params.missingProperty));
  if (error.keyword === 'additionalProperties') segments.push(String(error.params.additionalProperty));
  // JSON Pointer does not tell an index from a key of digits: the data has arrays far more often.
  const path = jsonPath(segments.map((s) => (/^\d+$/.test(s) ? Number(s) : s)));
  const message =
    error.keyword === 'required' ? 'is required' : error.keyword === 'additionalProperties' ? 'is not allowed' : (error.message ?? 'is invalid');
  return { path, message };
}
