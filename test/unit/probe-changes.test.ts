import { describe, expect, it } from 'vitest';
import type { Logger } from '../../src/logger';
import { probeChanges } from '../../src/gateway/routes/health';

/** A logger that keeps the level and message of each line. */
function recording() {
  const lines: [string, string][] = [];
  const logger = {
    info: (_fields: unknown, msg: string) => lines.push(['info', msg]),
    warn: (_fields: unknown, msg: string) => lines.push(['warn', msg]),
  } as unknown as Logger;
  return { logger, lines };
}

const up = { status: 'up' as const, latencyMs: 1 };
const down = (detail: string) => ({ status: 'down' as const, latencyMs: 1, detail });

describe("a probe's changes", () => {
  it('says nothing while a probe passes from the start', () => {
    const { logger, lines } = recording();
    const changed = probeChanges(logger, '/readyz');
    changed(true, { postgres: up });
    changed(true, { postgres: up });
    expect(lines).toEqual([]);
  });

  it('warns when it starts failing, naming each check down, and says when it passes again, once each', () => {
    const { logger, lines } = recording();
    const changed = probeChanges(logger, '/readyz');
    changed(true, { postgres: up, temporal: up });
    changed(false, { postgres: down('connect ECONNREFUSED 127.0.0.1:5432'), temporal: down('no answer within 3000 ms') });
    changed(false, { postgres: down('connect ECONNREFUSED 127.0.0.1:5432'), temporal: up });
    changed(true, { postgres: up, temporal: up });
    changed(true, { postgres: up, temporal: up });
    expect(lines).toEqual([
      ['warn', '/readyz fails: postgres: connect ECONNREFUSED 127.0.0.1:5432; temporal: no answer within 3000 ms'],
      ['info', '/readyz passes again'],
    ]);
  });

  it('warns on a first answer that fails', () => {
    const { logger, lines } = recording();
    probeChanges(logger, '/readyz')(false, { postgres: down('timeout') });
    expect(lines).toEqual([['warn', '/readyz fails: postgres: timeout']]);
  });
});
