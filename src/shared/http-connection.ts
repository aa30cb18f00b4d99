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
    auth: z.enum(HTTP_AUTH_SCHEMES, { error: `must be one of ${HTTP_AUTH_SCHEMES.join(', ')}` }).meta({ description: 'how requests prove who sends them; each takes its own secret' }),
    baseUrl: httpUrl.meta({ description: 'a step naming this connection must request a URL under this one; left out: any URL', examples: ['https://api.example.com/v1/'] }).optional(),
    username: z.string().min(1).max(500).meta({ description: 'basic: the user name' }).optional(),
    headerName: headerName.meta({ description: 'api-key: the header that carries the key', examples: ['X-API-Key'] }).optional(),
  },
  secrets: {
    token: secretText.meta({ description: 'bearer: the token sent as Authorization: Bearer <token>' }).optional(),
    password: secretText.meta({ description: 'basic: the password' }).optional(),
    apiKey: secretText.meta({ description: 'api-key: the key' }).optional(),
    headers: z.record(headerName, secretText).meta({ description: 'headers: header name → value, each sent as written' }).optional(),
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
