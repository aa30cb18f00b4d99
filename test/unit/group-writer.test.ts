import { describe, expect, it } from 'vitest';
import { GroupWriter } from '../../db/group-writer';

/** A write that records its groups and takes a turn of the event loop, as a query would. */
function recorder(fail: (items: number[]) => boolean = () => false) {
  const groups: number[][] = [];
  const write = async (items: number[]) => {
    groups.push(items);
    await new Promise((r) => setTimeout(r, 5));
    if (fail(items)) throw new Error(`refused ${items.join(',')}`);
  };
  return { groups, write };
}

describe('GroupWriter', () => {
  it('writes a lone item at once, by itself', async () => {
    const { groups, write } = recorder();
    const writer = new GroupWriter(write);
    await writer.add(1);
    await writer.add(2);
    expect(groups).toEqual([[1], [2]]);
  });

  it('groups the items that queue while a write is in flight', async () => {
    const { groups, write } = recorder();
    const writer = new GroupWriter(write);
    await Promise.all([1, 2, 3, 4, 5].map((n) => writer.add(n)));
    expect(groups).toEqual([[1], [2, 3, 4, 5]]);
  });

  it('caps a group', async () => {
    const { groups, write } = recorder();
    const writer = new GroupWriter(write, 2);
    await Promise.all([1, 2, 3, 4, 5].map((n) => writer.add(n)));
    expect(groups).toEqual([[1], [2, 3], [4, 5]]);
  });

  it('fails only the item that fails: a refused group is retried one by one', async () => {
    const { groups, write } = recorder((items) => items.includes(3));
    const writer = new GroupWriter(write);
    const outcomes = await Promise.allSettled([1, 2, 3, 4].map((n) => writer.add(n)));
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    expect(String((outcomes[2] as PromiseRejectedResult).reason)).toContain('refused 3');
    expect(groups).toEqual([[1], [2, 3, 4], [2], [3], [4]]);
  });

  it('keeps writing after a failure', async () => {
    const { groups, write } = recorder((items) => items.includes(1));
    const writer = new GroupWriter(write);
    await expect(writer.add(1)).rejects.toThrow('refused 1');
    await writer.add(2);
    expect(groups).toEqual([[1], [2]]);
  });

  it('holds a lone write back for its linger, and sends what arrived meanwhile with it', async () => {
    const { groups, write } = recorder();
    const writer = new GroupWriter(write, 100, 30);
    const first = writer.add(1);
    await new Promise((r) => setTimeout(r, 10));
    expect(groups).toEqual([]);
    await Promise.all([first, writer.add(2), writer.add(3)]);
    expect(groups).toEqual([[1, 2, 3]]);
  });

  it('lingers only before a group, not between groups while writes keep coming', async () => {
    const { groups, write } = recorder();
    const writer = new GroupWriter(write, 2, 20);
    await Promise.all([1, 2, 3, 4, 5].map((n) => writer.add(n)));
    expect(groups).toEqual([[1, 2], [3, 4], [5]]);
  });
});
