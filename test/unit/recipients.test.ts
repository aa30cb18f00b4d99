import { describe, expect, it } from 'vitest';
import { parseDefinition } from '../../src/shared/definition';
import { jsonPath } from '../../src/shared/json-path';
import {
  checkEmailRecipients,
  checkPhoneNumber,
  checkSlackChannel,
  isPlainEmailAddress,
  literalAddressList,
  writtenRecipientProblem,
} from '../../src/shared/recipients';

describe('one email recipient', () => {
  it.each([
    'ada@example.com',
    'ada.lovelace+orders@mail.example.co.uk',
    "o'brien@example.ie",
    'user_1@sub-domain.example',
    'jürgen@müller.example',
  ])('accepts the plain address %s', (address) => {
    expect(isPlainEmailAddress(address)).toBe(true);
    expect(checkEmailRecipients(address)).toEqual({ ok: true, value: address });
  });

  it('trims spaces and tabs around an address, nothing else', () => {
    expect(checkEmailRecipients('  ada@example.com\t')).toEqual({ ok: true, value: 'ada@example.com' });
    expect(checkEmailRecipients('ada@example.com\n')).toMatchObject({ ok: false });
  });

  it.each([
    ['a list', 'a@example.com, b@example.net', 'it holds several addresses'],
    ['a list with semicolons', 'a@example.com;b@example.net', 'it holds several addresses'],
    ['a display name', '"a@example.com" <x@example.net>', 'it holds a display name or angle brackets'],
    ['angle brackets alone', '<x@example.net>', 'it holds a display name or angle brackets'],
    ['CR/LF', 'a@example.com\r\n', 'it holds a line break or another control character'],
    ['a smuggled header', 'a@b.c\r\nBcc: x@y', 'it holds a line break or another control character'],
    ['a Unicode line separator', 'a@example.com\u2028b@example.net', 'it holds a line break or another control character'],
    ['a NUL', 'a@example.com\u0000', 'it holds a line break or another control character'],
    ['a comment', 'a@example.com(boss@example.net)', 'it holds a comment'],
    ['a templated user that is a list', 'x@evil.example, y@corp.example', 'it holds several addresses'],
    ['a space', 'a b@example.com', 'it holds spaces'],
    ['a quoted local part', '"a b"@example.com', 'it holds a display name or angle brackets'],
    ['two @', 'a@evil.example@corp.example', 'it is not an email address'],
    ['a bare name', 'root', 'it is not an email address'],
    ['a dotless domain', 'root@localhost', 'it is not an email address'],
    ['an address literal', 'a@[127.0.0.1]', 'it is not an email address'],
    ['a fullwidth at sign', 'a＠example.com', 'it is not an email address'],
    ['empty text', '', 'it is empty'],
  ])('refuses %s', (_name, value, fault) => {
    const result = checkEmailRecipients(value);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.problem).toBe(
      `must be one plain address such as ada@example.com (no display name, list, comment or line break), or a list of such addresses given as a JSON array; ${fault}`,
    );
  });

  it('refuses a local part over 64 characters and an address over 254', () => {
    expect(isPlainEmailAddress(`${'a'.repeat(65)}@example.com`)).toBe(false);
    expect(isPlainEmailAddress(`${'a'.repeat(64)}@example.com`)).toBe(true);
    const labels = (n: number) => Array.from({ length: n }, () => 'b'.repeat(60)).join('.');
    expect(isPlainEmailAddress(`a@${labels(4)}.com`)).toBe(true);
    expect(isPlainEmailAddress(`a@${labels(5)}.com`)).toBe(false);
  });
});

describe('a list of email recipients', () => {
  it('takes a list of plain addresses as it is', () => {
    expect(checkEmailRecipients(['a@example.com', 'b@example.net'])).toEqual({ ok: true, value: ['a@example.com', 'b@example.net'] });
  });

  it.each([
    [['a@example.com', 'b@example.net, c@evil.example'], 'item 1 of the list must be one plain address such as ada@example.com (no display name, list, comment or line break); it holds several addresses'],
    [['a@example.com', 42], 'item 1 of the list must be one plain address such as ada@example.com (no display name, list, comment or line break); it is a number'],
    [[['a@example.com']], 'item 0 of the list must be one plain address such as ada@example.com (no display name, list, comment or line break); it is a list'],
    [[], 'must list 1 to 100 addresses, not 0'],
    [Array.from({ length: 101 }, (_, i) => `u${i}@example.com`), 'must list 1 to 100 addresses, not 101'],
  ])('refuses %j', (value, problem) => {
    expect(checkEmailRecipients(value)).toEqual({ ok: false, problem });
  });

  it.each([
    [null, 'null'],
    [{ address: 'a@example.com' }, 'an object'],
    [undefined, 'missing'],
  ])('refuses %j as neither text nor a list', (value, kind) => {
    expect(checkEmailRecipients(value)).toMatchObject({ ok: false, problem: expect.stringMatching(new RegExp(`; it is ${kind}$`)) });
  });
});

describe('SMS numbers and Slack channels', () => {
  it.each(['+14155550123', ' +4930123456 '])('accepts the number %j', (value) => {
    expect(checkPhoneNumber(value)).toEqual({ ok: true, value: value.trim() });
  });

  it.each([
    ['+14155550123, +14155550124', /several numbers/],
    ['+14155550123\n', /line break/],
    ['+1 415 555 0123', /E\.164/],
    ['0612345678', /E\.164/],
    [14155550123, /it is a number/],
  ])('refuses the number %j', (value, problem) => {
    expect(checkPhoneNumber(value)).toMatchObject({ ok: false, problem: expect.stringMatching(problem) });
  });

  it.each(['C0123ABCD', '#ops', 'ops', 'sales-hot_leads', 'équipe', 'legacy.name'])('accepts the channel %j', (value) => {
    expect(checkSlackChannel(value)).toEqual({ ok: true, value });
  });

  it.each([
    ['#ops,#security', /several channels/],
    ['#ops #security', /several channels/],
    ['#ops\r\n', /line break/],
    ['@ada', /not a channel/],
    ['', /not a channel/],
    [['#ops'], /it is a list/],
  ])('refuses the channel %j', (value, problem) => {
    expect(checkSlackChannel(value)).toMatchObject({ ok: false, problem: expect.stringMatching(problem) });
  });
});

describe('recipients as written in a definition', () => {
  it('reads an old literal list or display name as the addresses it names', () => {
    expect(literalAddressList('a@example.com, b@example.net')).toEqual(['a@example.com', 'b@example.net']);
    expect(literalAddressList('a@example.com;b@example.net;')).toEqual(['a@example.com', 'b@example.net']);
    expect(literalAddressList('"Ops, on call" <ops@example.com>, Ada <ada@example.com>')).toEqual(['ops@example.com', 'ada@example.com']);
    expect(literalAddressList('ops@example.com')).toBeUndefined();
    expect(literalAddressList('{{ input.a }}, b@example.net')).toBeUndefined();
    expect(literalAddressList('a@example.com, not an address')).toBeUndefined();
    expect(literalAddressList('a@example.com\r\nBcc: x@example.net')).toBeUndefined();
  });

  it.each([
    ['ops@example.com', undefined],
    ['{{ input.email }}', undefined],
    ['{{ input.user }}@corp.example', undefined],
    ['a@example.com, b@example.net', 'must be one plain address; write several as a list: ["a@example.com","b@example.net"]'],
    ['"Ops" <ops@example.com>', 'must be one plain address without a display name: "ops@example.com"'],
    ['{{ input.a }}, {{ input.b }}', expect.stringMatching(/its text outside \{\{ \}\} holds a separator/)],
    ['Ops <{{ input.email }}>', expect.stringMatching(/its text outside \{\{ \}\} holds a separator/)],
    ['nobody', expect.stringMatching(/it is not an email address$/)],
  ])('%j: %s', (text, problem) => {
    expect(writtenRecipientProblem(text)).toEqual(problem);
  });

  const withSteps = (steps: unknown[]) => ({ key: 'recipients', name: 'Recipients', steps });
  const problems = (doc: unknown, newVersion: boolean) => {
    const result = parseDefinition(doc, { newVersion });
    return result.ok ? [] : result.problems.map((p) => `${jsonPath(p.path)}: ${p.message}`);
  };

  it('refuses a literal list in a new version, pointing to the array form, at its path', () => {
    const doc = withSteps([
      {
        id: 'check',
        type: 'condition',
        condition: 'true',
        then: [{ id: 'mail', type: 'email', to: 'a@example.com, b@example.net', cc: ['ok@example.com', 'Boss <boss@example.com>'], subject: 's', text: 't' }],
      },
      { id: 'text', type: 'sms', to: '+14155550123,+14155550124', body: 'b' },
      { id: 'post', type: 'slack', channel: '#ops, #security', text: 't' },
      { id: 'fine', type: 'email', to: ['{{ input.email }}', 'x@example.com'], replyTo: '{{ input.replyTo }}', subject: 's', text: 't' },
    ]);
    expect(problems(doc, true)).toEqual([
      '$.steps[0].then[0].to: must be one plain address; write several as a list: ["a@example.com","b@example.net"]',
      '$.steps[0].then[0].cc[1]: must be one plain address without a display name: "boss@example.com"',
      '$.steps[1].to: must be one phone number in E.164 form, such as +14155550123; it holds several numbers',
      expect.stringMatching(/^\$\.steps\[2\]\.channel: must be one channel id or name .*; it holds several channels or spaces$/),
    ]);
  });

  it('still reads a stored version that holds a literal list', () => {
    const doc = withSteps([{ id: 'mail', type: 'email', to: 'a@example.com, b@example.net', subject: 's', text: 't' }]);
    expect(problems(doc, false)).toEqual([]);
  });
});
