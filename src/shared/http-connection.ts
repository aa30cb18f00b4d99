/**
 * The `http` connection type: the credentials an `http` step sends, and
 * optionally the base URL its URL must stay under (so a definition cannot
 * send the credentials elsewhere). Schemes: a bearer token, basic auth, an
 * API key in a header of its name, or a set of named secret headers.
 */
import { z } from 'zod';
import { defineConnectionType, type FieldProblem, httpUrl, secretText } from '../../channels/connection';
import { HEADER_NAME } from './step-fields';

export const HTTP_AUTH_SCHEMES = ['bearer', 'basic', 'api-key', 'headers'] as const;

const headerName = z.string().regex(HEADER_NAME, 'must be an HTTP header name');

export const httpConnection = defineConnectionType({
  type: 'http',
  step: 'http',
  label: 'HTTP API',
  settings: {
    auth: z.enum(HTTP_AUTH_SCHEMES, { error: `must be one of ${HTTP_AUTH_SCHEMES.join(', ')}` }),
    /** A step naming this connection must request a URL under this one. */
    baseUrl: httpUrl.optional(),
    /** basic: the user name. */
    username: z.string().min(1).max(500).optional(),
    /** api-key: the header that carries the key, e.g. `X-API-Key`. */
    headerName: headerName.optional(),
  },
  secrets: {
    /** bearer: the token sent as `Authorization: Bearer <token>`. */
    token: secretText.optional(),
    /** basic: the password. */
    password: secretText.optional(),
    /** api-key: the key. */
    apiKey: secretText.optional(),
    /** headers: header name → value, each sent as written. */
    headers: z.record(headerName, secretText).optional(),
  },
  check: (fields) => {
    const problems: FieldProblem[] = [];
    const need = (field: string, present: boolean) => {
      if (!present) problems.push({ field, message: `is required with auth "${fields.auth}"` });
    };
    if (fields.auth === 'bearer') need('token', fields.token !== undefined);
    if (fields.auth === 'basic') {
      need('username', fields.username !== undefined);
      need('password', fields.password !== undefined);
    }
    if (fields.auth === 'api-key') {
      need('headerName', fields.headerName !== undefined);
      need('apiKey', fields.apiKey !== undefined);
    }
    if (fields.auth === 'headers') need('headers', fields.headers !== undefined && Object.keys(fields.headers).length > 0);
    return problems;
  },
  checkable: false,
});

export type HttpConnectionFields = z.output<z.ZodObject<typeof httpConnection.settings>> & z.output<z.ZodObject<typeof httpConnection.secrets>>;

/** The headers an `http` connection adds to a request. */
export function httpConnectionHeaders(fields: HttpConnectionFields): Record<string, string> {
  switch (fields.auth) {
    case 'bearer':
      return { authorization: `Bearer ${fields.token ?? ''}` };
    case 'basic':
      return { authorization: `Basic ${btoa(`${fields.username ?? ''}:${fields.password ?? ''}`)}` };
    case 'api-key':
      return { [fields.headerName ?? 'x-api-key']: fields.apiKey ?? '' };
    case 'headers':
      return { ...fields.headers };
  }
}
