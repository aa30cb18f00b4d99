import { describe, expect, it } from 'vitest';
import { allSteps, parseDefinition } from '../../src/shared/definition';
import { jsonPath } from '../../src/shared/json-path';

const valid = {
  key: 'new-signup',
  name: 'New signup',
  steps: [
    { id: 'hello', type: 'email', to: '{{ input.email }}', subject: 'Welcome', text: 'Hi {{ input.name }}' },
    {
      id: 'check',
      type: 'condition',
      condition: 'input.plan = "pro"',
      then: [{ id: 'tell', type: 'slack', channel: '#sales', text: 'Pro signup' }],
      else: [{ id: 'wait', type: 'delay', duration: '1d' }],
    },
  ],
};

function problems(doc: unknown) {
  const result = parseDefinition(doc);
  return result.ok ? [] : result.problems.map((p) => `${jsonPath(p.path)}: ${p.message}`);
}

describe('parseDefinition', () => {
  it('accepts a valid definition and applies defaults', () => {
    const result = parseDefinition(valid);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.definition).toMatchObject({ category: 'general', enabled: true, trigger: { type: 'manual' }, description: '' });
    expect(allSteps(result.definition.steps).map((s) => s.id)).toEqual(['hello', 'check', 'tell', 'wait']);
  });

  it('names an unknown step type with its path and the known types', () => {
    const [problem] = problems({ ...valid, steps: [{ id: 'x', type: 'fax', to: '1' }] });
    expect(problem).toMatch(/^\$\.steps\[0\]\.type: unknown step type "fax"; expected one of email, slack, sms, teams, pagerduty, http, set, delay, condition/);
  });

  it('reports problems inside nested branches at their full path', () => {
    const doc = structuredClone(valid);
    (doc.steps[1] as { else: unknown[] }).else = [{ id: 'wait', type: 'delay', duration: 'soon' }];
    expect(problems(doc)).toEqual([expect.stringMatching(/^\$\.steps\[1\]\.else\[0\]\.duration: must be a duration/)]);
  });

  it('finds duplicate step ids across branches', () => {
    const doc = structuredClone(valid);
    (doc.steps[1] as { then: { id: string }[] }).then[0]!.id = 'hello';
    expect(problems(doc)).toEqual([expect.stringMatching(/^\$\.steps\[1\]\.then\[0\]\.id: duplicate step id "hello" \(also at \$\.steps\[0\]\)/)]);
  });

  it('rejects expressions that do not parse, in conditions, guards and templates', () => {
    const doc = {
      ...valid,
      steps: [
        { id: 'a', type: 'set', values: { x: '{{ input.( }}' } },
        { id: 'b', type: 'condition', condition: 'input.x =', then: [] },
        { id: 'c', type: 'delay', duration: '1s', if: ')(' },
      ],
    };
    const found = problems(doc);
    expect(found).toHaveLength(3);
    expect(found[0]).toMatch(/^\$\.steps\[0\]\.values\.x: expression does not parse/);
    expect(found[1]).toMatch(/^\$\.steps\[1\]\.condition: expression does not parse/);
    expect(found[2]).toMatch(/^\$\.steps\[2\]\.if: expression does not parse/);
  });

  it('rejects unknown fields, missing content and bad keys', () => {
    expect(problems({ ...valid, key: 'Bad Key' })).toEqual([expect.stringMatching(/^\$\.key: must be lower-case/)]);
    expect(problems({ ...valid, steps: [] })).toEqual(['$.steps: a definition needs at least one step']);
    expect(problems({ ...valid, steps: [{ id: 'e', type: 'email', to: 'a@b.c', subject: 's' }] })).toEqual([
      '$.steps[0].text: an email step needs text or html',
    ]);
    expect(problems({ ...valid, colour: 'red' })[0]).toMatch(/colour/);
  });

  it('checks nested step lists of every structure step at their full paths', () => {
    const doc = {
      key: 'nested',
      name: 'Nested',
      steps: [
        {
          id: 'route',
          type: 'switch',
          value: 'input.kind',
          cases: [{ equals: 'a', steps: [{ id: 'x', type: 'delay', duration: 'later' }] }],
          default: [{ id: 'y', type: 'set', values: { v: '{{ ( }}' } }],
        },
        { id: 'fan', type: 'parallel', branches: [[{ id: 'p1', type: 'set', values: {} }], [{ id: 'x', type: 'set', values: {} }]] },
        {
          id: 'ask',
          type: 'wait_for_signal',
          signal: 'approval',
          timeout: '2d',
          onTimeout: [{ id: 'nag', type: 'fax' }],
          onError: { compensate: [{ id: 'undo', type: 'fail', message: '' }] },
        },
      ],
    };
    const found = problems(doc);
    expect(found).toHaveLength(5);
    expect(found).toEqual(
      expect.arrayContaining([
        '$.steps[0].cases[0].steps[0].duration: must be a duration such as 500ms, 30s, 5m, 2h, 3d or 1h30m',
        expect.stringMatching(/^\$\.steps\[0\]\.default\[0\]\.values\.v: expression does not parse/),
        '$.steps[1].branches[1][0].id: duplicate step id "x" (also at $.steps[0].cases[0].steps[0])',
        expect.stringMatching(/^\$\.steps\[2\]\.onTimeout\[0\]\.type: unknown step type "fax"/),
        expect.stringMatching(/^\$\.steps\[2\]\.onError\.compensate\[0\]\.message: /),
      ]),
    );
  });

  it('refuses a parallel step with fewer than two branches and a switch without cases', () => {
    expect(problems({ key: 'p', name: 'P', steps: [{ id: 'f', type: 'parallel', branches: [[{ id: 'a', type: 'set', values: {} }]] }] })[0]).toMatch(
      /^\$\.steps\[0\]\.branches: /,
    );
    expect(problems({ key: 's', name: 'S', steps: [{ id: 's', type: 'switch', value: 'input.x', cases: [] }] })[0]).toMatch(/^\$\.steps\[0\]\.cases: /);
  });

  it('refuses references to steps the definition does not have', () => {
    const doc = {
      key: 'refs',
      name: 'Refs',
      steps: [
        { id: 'fetch', type: 'set', values: { a: 1 } },
        { id: 'use', type: 'set', values: { ok: '{{ steps.fetch.output.a }}', bad: '{{ steps.fecth.output }}' } },
        { id: 'gate', type: 'delay', duration: '1s', if: 'steps.missing.status = "COMPLETED"' },
      ],
    };
    expect(problems(doc)).toEqual([
      '$.steps[1].values.bad: refers to step "fecth", which this definition does not have',
      '$.steps[2].if: refers to step "missing", which this definition does not have',
    ]);
  });

  it('refuses references to steps that have not run yet where they are read', () => {
    const doc = {
      key: 'order',
      name: 'Order',
      steps: [
        { id: 'early', type: 'set', values: { a: '{{ steps.late.output }}', self: '{{ steps.early.output }}' } },
        {
          id: 'both',
          type: 'parallel',
          branches: [
            [{ id: 'left', type: 'set', values: { a: 1 } }],
            [{ id: 'right', type: 'set', values: { peer: '{{ steps.left.output }}' } }],
          ],
        },
        {
          id: 'loop',
          type: 'foreach',
          items: 'input.rows',
          maxItems: 100,
          steps: [
            { id: 'inner', type: 'set', values: { n: '{{ loop.index }}' } },
            { id: 'innerNext', type: 'set', values: { prev: '{{ steps.inner.output }}', before: '{{ steps.left.output }}' } },
          ],
        },
        {
          id: 'risky',
          type: 'http',
          url: 'https://api.example.test/x',
          onError: { compensate: [{ id: 'undo', type: 'set', values: { what: '{{ steps.risky.status }}' } }] },
        },
        { id: 'after', type: 'set', values: { l: '{{ steps.left.output }}', r: '{{ steps.right.output }}', inner: '{{ steps.inner.output }}' } },
        { id: 'late', type: 'set', values: { b: 2 } },
      ],
    };
    expect(problems(doc)).toEqual([
      '$.steps[0].values.a: refers to step "late", which has not run yet here (it comes later, or runs in a parallel branch)',
      '$.steps[0].values.self: refers to its own step "early", whose output does not exist until it finishes',
      '$.steps[1].branches[1][0].values.peer: refers to step "left", which has not run yet here (it comes later, or runs in a parallel branch)',
      '$.steps[4].values.inner: refers to step "inner" inside foreach "loop": its output exists only within an iteration; read steps.loop.output after the loop',
    ]);
  });

  it('accepts a delay until a computed moment, and refuses one with both or neither', () => {
    const base = { key: 'd', name: 'D' };
    expect(problems({ ...base, steps: [{ id: 'w', type: 'delay', until: 'input.dueDate' }] })).toEqual([]);
    expect(problems({ ...base, steps: [{ id: 'w', type: 'delay', until: 'input.dueDate', duration: '1d' }] })).toEqual([
      '$.steps[0].duration: a delay needs either duration or until, not both',
    ]);
    expect(problems({ ...base, steps: [{ id: 'w', type: 'delay' }] })).toEqual(['$.steps[0].duration: a delay needs either duration or until, not both']);
  });

  it('accepts a form-encoded http body of scalars and lists, and refuses one beside body, on a GET, or holding objects', () => {
    const base = { key: 'f', name: 'F' };
    const http = (fields: Record<string, unknown>) => problems({ ...base, steps: [{ id: 'post', type: 'http', url: 'https://api.example/x', ...fields }] });
    expect(http({ method: 'POST', form: { name: '{{ input.name }}', qty: 2, gift: false, tags: ['a', 'b'], note: null } })).toEqual([]);
    expect(http({ method: 'POST', form: { a: '1' }, body: { a: 1 } })).toEqual(['$.steps[0].form: an http step takes body or form, not both']);
    expect(http({ form: { a: '1' } })).toEqual(['$.steps[0].form: a GET request sends no body: use POST, PUT, PATCH or DELETE with form']);
    expect(http({ method: 'POST', form: { address: { city: 'Oslo' } } })).toEqual(['$.steps[0].form.address: must be text, a number, true/false, null or a list of them']);
    expect(http({ method: 'POST', form: 'a=1' })).toEqual(['$.steps[0].form: must be an object of field → value']);
    expect(http({ method: 'POST', form: { a: '{{ input.( }}' } })).toEqual([expect.stringMatching(/^\$\.steps\[0\]\.form\.a: expression does not parse/)]);
  });

  it('accepts secret headers on an attachment fetched from a URL, and refuses them on inline content', () => {
    const mail = (attachment: Record<string, unknown>) =>
      problems({ key: 'm', name: 'M', steps: [{ id: 'mail', type: 'email', to: 'a@example.test', subject: 's', text: 't', attachments: [attachment] }] });
    expect(mail({ filename: 'a.pdf', url: 'https://files.example/a.pdf', secretHeaders: { authorization: 'FILES_TOKEN' } })).toEqual([]);
    expect(mail({ filename: 'a.txt', content: 'x', secretHeaders: { authorization: 'FILES_TOKEN' } })).toEqual([
      '$.steps[0].attachments[0].secretHeaders: secretHeaders apply to an attachment fetched from url only',
    ]);
    expect(mail({ filename: 'a.pdf', url: 'https://files.example/a.pdf', secretHeaders: { authorization: 'the token' } })).toEqual([
      '$.steps[0].attachments[0].secretHeaders.authorization: must be a secret name like API_TOKEN',
    ]);
    expect(mail({ filename: 'a.pdf', url: 'https://files.example/a.pdf', secretHeaders: { 'bad header': 'FILES_TOKEN' } })).toEqual([
      '$.steps[0].attachments[0].secretHeaders["bad header"]: must be an HTTP header name',
    ]);
  });
});

describe('expression fields written as templates', () => {
  const base = { key: 'k', name: 'n' };
  it('say that conditions and the other expression fields take a bare expression, not the parser error', () => {
    expect(
      problems({
        ...base,
        steps: [
          { id: 'big', type: 'condition', condition: '{{ input.total > 100 }}', then: [] },
          { id: 'gate', type: 'delay', duration: '1s', if: 'input.ok = true and {{ input.go }}' },
        ],
      }),
    ).toEqual([
      '$.steps[0].condition: takes a bare expression, without {{ }}: write "input.total > 100", not "{{ input.total > 100 }}"',
      '$.steps[1].if: takes a bare expression, without {{ }}: {{ }} marks expressions inside text fields; here write the expression itself',
    ]);
  });

  it('leave an expression that parses alone, braces in a string included', () => {
    expect(problems({ ...base, steps: [{ id: 'c', type: 'condition', condition: 'input.text = "{{x}}"', then: [] }] })).toEqual([]);
  });
});
