/**
 * Every error the gateway answers with has one shape: RFC 9457 problem+json
 * with a stable `code`, a message, and the JSON paths of bad fields.
 */
import type { Response } from 'express';

export const PROBLEM_CODES = {
  validation_failed: 400,
  invalid_json: 400,
  invalid_text: 400,
  invalid_definition: 400,
  unauthenticated: 401,
  invalid_signature: 401,
  forbidden: 403,
  not_found: 404,
  route_not_found: 404,
  definition_key_taken: 409,
  definition_disabled: 409,
  definition_has_open_runs: 409,
  execution_closed: 409,
  execution_open: 409,
  execution_succeeded: 409,
  reset_refused: 409,
  definition_deleted: 409,
  not_waiting: 409,
  batch_finished: 409,
  decision_refused: 409,
  connection_name_taken: 409,
  connection_in_use: 409,
  connection_changed: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  definition_invalid: 422,
  nothing_matched: 422,
  rate_limited: 429,
  definition_version_missing: 500,
  temporal_unavailable: 503,
  database_unavailable: 503,
  webhooks_not_configured: 503,
  console_not_built: 503,
  payload_unreadable: 500,
  connection_unreadable: 500,
  connection_keys_missing: 503,
  identity_provider_unavailable: 503,
  internal_error: 500,
} as const;

export type ProblemCode = keyof typeof PROBLEM_CODES;

export interface ProblemField {
  /** JSON path of the field, e.g. `$.steps[2].to`. */
  path: string;
  message: string;
}

export class HttpProblem extends Error {
  constructor(
    readonly code: ProblemCode,
    message: string,
    readonly fields: ProblemField[] = [],
    /** Headers sent with the problem, e.g. `WWW-Authenticate` or `Retry-After`. */
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.name = 'HttpProblem';
  }

  get status(): number {
    return PROBLEM_CODES[this.code];
  }
}

export function sendProblem(res: Response, problem: HttpProblem, requestId?: string): void {
  res.set(problem.headers);
  res
    .status(problem.status)
    .type('application/problem+json')
    .json({
      type: `about:blank#${problem.code}`,
      title: problem.code.replace(/_/g, ' '),
      status: problem.status,
      code: problem.code,
      detail: problem.message,
      ...(problem.fields.length ? { errors: problem.fields } : {}),
      ...(requestId ? { requestId } : {}),
    });
}

/** The JSON path every error names its field by (src/shared/json-path.ts). */
export { jsonPath } from '../shared/json-path';
