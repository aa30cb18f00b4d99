/**
 * Field schemas that steps of several kinds share, kept apart from the
 * definition language itself so a channel's step (channels/) can use them
 * without importing the whole union it is part of.
 */
import { z } from 'zod';
import { MAX_RECIPIENTS } from './recipients';

/**
 * One address, or a list of them. What each must be is checked after
 * templating (src/shared/recipients.ts); what is written literally is also
 * checked when a version is saved (`parseDefinition`).
 */
export const recipients = z.union([z.string().min(1), z.array(z.string().min(1)).min(1).max(MAX_RECIPIENTS)]);

/** An HTTP header name (an RFC 9110 token). */
export const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,256}$/;
/** The `<NAME>` of a configured HTTP_SECRET_<NAME>. */
export const SECRET_NAME = /^[A-Z0-9_]+$/;

/** Header name → name of a configured secret (HTTP_SECRET_<NAME>); the value never enters the run. */
export const secretHeadersSchema = z.record(
  z.string().regex(HEADER_NAME),
  z.string().regex(SECRET_NAME, 'must be a secret name like API_TOKEN'),
  { error: (issue) => (issue.code === 'invalid_key' ? 'must be an HTTP header name' : 'must be an object of header name → secret name') },
);
