/**
 * How the product's Postgres pool tells of an outage: once when it begins and
 * once when it ends, however many connections fail in between, race its
 * beginning, or are found dead after it.
 */
import { describe, expect, it } from 'vitest';
import { outageWatch } from '../../db/client';

function watched() {
  const lines: string[] = [];
  const logger = { warn: (_: object, message: string) => lines.push(`warn: ${message.split(';')[0]}`), info: (_: object, message: string) => lines.push(`info: ${message}`) };
  const clock = { t: 0 };
  const watch = outageWatch(logger, () => clock.t);
  /** A connection the pool began making now. */
  const begin = () => ({ begunAt: clock.t });
  return { lines, watch, clock, begin };
}

const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
const terminated = new Error('Connection terminated unexpectedly');
const told = ['warn: Postgres is unreachable', 'info: Postgres answers again'];

describe('outageWatch', () => {
  it('tells an outage once, however many connections fail, and its end once', () => {
    const { lines, watch, clock, begin } = watched();
    const [a, b] = [begin(), begin()];
    watch.connected(a);
    watch.connected(b);
    clock.t = 10;
    watch.failed(terminated, a);
    watch.failed(terminated, b);
    watch.failed(refused);
    clock.t = 20;
    watch.connected(begin());
    watch.connected(begin());
    expect(lines).toEqual(told);
  });

  it('does not end an outage with a connection begun before it was noticed', () => {
    const { lines, watch, clock, begin } = watched();
    const racing = begin();
    clock.t = 10;
    watch.failed(refused);
    clock.t = 11;
    watch.connected(racing);
    watch.failed(terminated, racing);
    expect(lines).toEqual(['warn: Postgres is unreachable']);
    clock.t = 20;
    watch.connected(begin());
    expect(lines).toEqual(told);
  });

  it('takes a connection made before Postgres came back, failing after, for the outage already told', () => {
    const { lines, watch, clock, begin } = watched();
    const old = begin();
    watch.connected(old);
    clock.t = 10;
    watch.failed(refused);
    clock.t = 20;
    const fresh = begin();
    watch.connected(fresh);
    clock.t = 30;
    watch.failed(terminated, old);
    expect(lines).toEqual(told);
    // A connection made since, or one that cannot be made, tells of a new outage.
    watch.failed(terminated, fresh);
    clock.t = 40;
    watch.connected(begin());
    clock.t = 50;
    watch.failed(refused);
    expect(lines).toEqual([...told, ...told, 'warn: Postgres is unreachable']);
  });

  it('takes an attempt to connect begun before Postgres came back, failing after, for the outage already told', () => {
    const { lines, watch, clock, begin } = watched();
    clock.t = 10;
    watch.failed(refused);
    clock.t = 15;
    const attempt = begin();
    clock.t = 20;
    watch.connected(begin());
    clock.t = 25;
    watch.failed(refused, attempt);
    expect(lines).toEqual(told);
  });

  it('ignores errors that are not of Postgres being away', () => {
    const { lines, watch, begin } = watched();
    watch.failed(Object.assign(new Error('syntax error at or near "selec"'), { code: '42601' }), begin());
    expect(lines).toEqual([]);
  });
});
