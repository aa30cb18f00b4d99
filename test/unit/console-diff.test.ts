import { describe, expect, it } from 'vitest';
import { diffLines } from '../../console/src/diff';

describe("the console's version diff", () => {
  it('keeps common lines and marks what was removed and added, in order', () => {
    expect(diffLines('a\nb\nc\nd', 'a\nc\nx\nd')).toEqual([
      { kind: 'same', text: 'a' },
      { kind: 'removed', text: 'b' },
      { kind: 'same', text: 'c' },
      { kind: 'added', text: 'x' },
      { kind: 'same', text: 'd' },
    ]);
  });

  it('handles empty and identical texts', () => {
    expect(diffLines('same', 'same')).toEqual([{ kind: 'same', text: 'same' }]);
    expect(diffLines('', 'new')).toEqual([
      { kind: 'removed', text: '' },
      { kind: 'added', text: 'new' },
    ]);
  });
});
