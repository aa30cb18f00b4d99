import { describe, expect, it } from 'vitest';
import { ServerErrors } from '../support/server-errors';

describe('the suite server log', () => {
  it('says nothing when the server logged no error', () => {
    const errors = new ServerErrors();
    errors.add('time=2026-12-07T18:40:31.291 level=WARN msg="a warning"\n');
    expect(errors.report()).toBeUndefined();
  });

  it('counts error lines in the text and JSON formats, across chunks, and keeps the last ten', () => {
    const errors = new ServerErrors();
    errors.add('time=t level=ERROR msg="Persistent store operation failure" error="GetNamespace operation fa');
    errors.add('iled. Error interrupted (9)"\n{"level":"error","msg":"second"}\n');
    for (let i = 0; i < 11; i += 1) errors.add(`level=ERROR msg=n${i}\n`);
    const report = errors.report()!;
    expect(report).toMatch(/^the Temporal server logged 13 error lines \(some are the failures tests cause on purpose\); the last ones: /);
    expect(report).not.toContain('Persistent store');
    expect(report).toContain('level=ERROR msg=n10');
    expect(report.split(' | ')).toHaveLength(10);
  });

  it('keeps a whole line that arrived in pieces', () => {
    const errors = new ServerErrors();
    errors.add('level=ERROR msg="GetNamespace operation fa');
    errors.add('iled. Error interrupted (9)"\n');
    expect(errors.report()).toContain('GetNamespace operation failed. Error interrupted (9)');
  });

  it("shows a JSON line's time, message and error, without its stack trace", () => {
    const errors = new ServerErrors();
    errors.add(`${JSON.stringify({ level: 'error', ts: '2026-12-07T19:15:24.919Z', msg: 'deployment client error', error: 'Worker Deployment Version not found', stacktrace: 'go.temporal.io/server…' })}\n`);
    expect(errors.report()).toMatch(/the last ones: 2026-12-07T19:15:24.919Z deployment client error Worker Deployment Version not found$/);
  });
});
