/**
 * What one recipient is. A message step's `to`, `cc`, `bcc` and `replyTo`,
 * an SMS number and a Slack channel are each one plain value after templating,
 * so that trigger data cannot turn one recipient into several (a list, a
 * display name hiding another address, a header smuggled after a line break).
 * Several recipients are a list: a JSON array, never text with commas in it.
 *
 * Workflow-safe, and free of zod, which stays out of the workflow bundle: the
 * definition validator and the email step's handler use it as well as the
 * activities (activities/failures.ts makes schema fields of its checks).
 */

/** The most recipients one `to`, `cc`, `bcc` or `replyTo` may list. */
export const MAX_RECIPIENTS = 100;

/** What one email recipient must be, as problem messages say it. */
const ONE_ADDRESS = 'one plain address such as ada@example.com (no display name, list, comment or line break)';

/** What an email recipient field must hold, as problem messages say it. */
export const EMAIL_FORM = `${ONE_ADDRESS}, or a list of such addresses given as a JSON array`;

/** What a Slack channel must be, as problem messages say it. */
export const SLACK_CHANNEL_FORM = 'one channel id or name such as C0123ABCD or #ops (letters, digits, ., - and _; no list, space or line break)';

// An unquoted local part (RFC 5322 dot-atom, with non-ASCII letters as RFC 6532 allows) and a
// domain of at least two dot-separated labels. No quoted strings, comments or address literals:
// nothing a mail library could read as more than one mailbox.
const ATOM = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~\\p{L}\\p{M}\\p{N}-]+";
const LABEL = '[\\p{L}\\p{M}\\p{N}](?:[\\p{L}\\p{M}\\p{N}-]{0,61}[\\p{L}\\p{M}\\p{N}])?';
const PLAIN_ADDRESS = new RegExp(`^(${ATOM}(?:\\.${ATOM})*)@(${LABEL}(?:\\.${LABEL})+)$`, 'u');

/** Line breaks and other control characters, including Unicode's line and paragraph separators. */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/** Spaces and tabs around a value are forgiven; nothing else is. */
const trimSpaces = (value: string) => value.replace(/^[ \t]+|[ \t]+$/g, '');

const kindOf = (value: unknown) =>
  value === undefined ? 'missing' : value === null ? 'null' : Array.isArray(value) ? 'a list' : typeof value === 'object' ? 'an object' : `a ${typeof value}`;

/** Whether `text` is exactly one plain email address (no surrounding spaces). */
export function isPlainEmailAddress(text: string): boolean {
  const match = PLAIN_ADDRESS.exec(text);
  return match !== null && (match[1] ?? '').length <= 64 && text.length <= 254;
}

/** Why `text` is not one plain address, in a few words a person can act on. */
function addressFault(text: string): string {
  if (CONTROL.test(text)) return 'it holds a line break or another control character';
  if (/[,;]/.test(text)) return 'it holds several addresses';
  if (/[<>"]/.test(text)) return 'it holds a display name or angle brackets';
  if (/[()]/.test(text)) return 'it holds a comment';
  if (/\s/.test(text)) return 'it holds spaces';
  if (text === '') return 'it is empty';
  return 'it is not an email address';
}

export type Checked<T> = { ok: true; value: T } | { ok: false; problem: string };

/**
 * A rendered `to`, `cc`, `bcc` or `replyTo`: one plain address as text, or a
 * list of 1–100 of them. Gives the value in the same shape (spaces around an
 * address trimmed), or a problem naming what is wrong and the form expected
 * (without repeating the value).
 */
export function checkEmailRecipients(value: unknown): Checked<string | string[]> {
  if (typeof value === 'string') {
    const text = trimSpaces(value);
    return isPlainEmailAddress(text) ? { ok: true, value: text } : { ok: false, problem: `must be ${EMAIL_FORM}; ${addressFault(text)}` };
  }
  if (Array.isArray(value)) {
    if (value.length === 0 || value.length > MAX_RECIPIENTS) {
      return { ok: false, problem: `must list 1 to ${MAX_RECIPIENTS} addresses, not ${value.length}` };
    }
    const addresses: string[] = [];
    for (const [i, item] of value.entries()) {
      const text = typeof item === 'string' ? trimSpaces(item) : undefined;
      if (text === undefined || !isPlainEmailAddress(text)) {
        const fault = text === undefined ? `it is ${kindOf(item)}` : addressFault(text);
        return { ok: false, problem: `item ${i} of the list must be ${ONE_ADDRESS}; ${fault}` };
      }
      addresses.push(text);
    }
    return { ok: true, value: addresses };
  }
  return { ok: false, problem: `must be ${EMAIL_FORM}; it is ${kindOf(value)}` };
}

/**
 * A rendered Slack channel: one id (`C0123ABCD`) or name (`ops`, `#ops`), as
 * Slack names allow: letters, digits, `-` and `_`, at most 80.
 */
export function checkSlackChannel(value: unknown): Checked<string> {
  if (typeof value !== 'string') return { ok: false, problem: `must be ${SLACK_CHANNEL_FORM}; it is ${kindOf(value)}` };
  const text = trimSpaces(value);
  if (/^#?[\p{L}\p{M}\p{N}._-]{1,80}$/u.test(text)) return { ok: true, value: text };
  const fault = CONTROL.test(text)
    ? 'it holds a line break or another control character'
    : /[,;\s]/.test(text)
      ? 'it holds several channels or spaces'
      : 'it is not a channel id or name';
  return { ok: false, problem: `must be ${SLACK_CHANNEL_FORM}; ${fault}` };
}

/** A rendered SMS number: one E.164 number. */
export const E164 = /^\+[1-9]\d{6,14}$/;

export function checkPhoneNumber(value: unknown): Checked<string> {
  if (typeof value !== 'string') return { ok: false, problem: `must be one phone number in E.164 form, such as +14155550123; it is ${kindOf(value)}` };
  const text = trimSpaces(value);
  if (E164.test(text)) return { ok: true, value: text };
  const fault = CONTROL.test(text) ? '; it holds a line break or another control character' : /[,;]/.test(text) ? '; it holds several numbers' : '';
  return { ok: false, problem: `must be one phone number in E.164 form, such as +14155550123${fault}` };
}

/**
 * The addresses a literal recipient text names, when it is an old-style list
 * or display-name form (`a@x.com, b@y.com`, `"Ops" <ops@x.com>`) made only of
 * plain addresses; undefined for one plain address, a template, or anything
 * else. Versions saved before lists had to be arrays are read through it, so
 * they keep sending where they sent (display names are dropped).
 */
export function literalAddressList(text: string): string[] | undefined {
  if (text.includes('{{') || isPlainEmailAddress(trimSpaces(text)) || CONTROL.test(text)) return undefined;
  const parts = text.match(/(?:"(?:[^"\\]|\\.)*"|[^,;"])+/g) ?? [];
  const addresses = parts
    .map((part) => part.trim())
    .filter((part) => part !== '')
    .map((part) => /<([^<>]*)>$/.exec(part)?.[1]?.trim() ?? part);
  return addresses.length > 0 && addresses.length <= MAX_RECIPIENTS && addresses.every(isPlainEmailAddress) ? addresses : undefined;
}

/**
 * What is wrong, seen at save time, with a recipient field as written in a
 * definition: a literal must already be one plain address, and a template's
 * own text (outside its `{{ … }}`) must not hold list separators, names or
 * line breaks, since it could never render to one plain address.
 */
export function writtenRecipientProblem(text: string): string | undefined {
  if (text.includes('{{')) {
    const outside = text.replace(/\{\{[\s\S]*?\}\}/g, '');
    return /[,;<>"()\s]/.test(trimSpaces(outside)) || CONTROL.test(outside)
      ? `must render to ${EMAIL_FORM}: its text outside {{ }} holds a separator, a name, a space or a line break`
      : undefined;
  }
  const trimmed = trimSpaces(text);
  if (isPlainEmailAddress(trimmed)) return undefined;
  const list = literalAddressList(text);
  if (list && list.length > 1) return `must be one plain address; write several as a list: ${JSON.stringify(list)}`;
  if (list) return `must be one plain address without a display name: ${JSON.stringify(list[0])}`;
  return `must be ${EMAIL_FORM}; ${addressFault(trimmed)}`;
}
