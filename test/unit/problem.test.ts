import { describe, expect, it } from 'vitest';
import { jsonPath } from '../../src/gateway/problem';

describe('jsonPath', () => {
  it('writes indexes in brackets and odd names quoted', () => {
    expect(jsonPath(['steps', 2, 'to'])).toBe('$.steps[2].to');
    expect(jsonPath(['body', 'trigger data'])).toBe('$.body["trigger data"]');
    expect(jsonPath([])).toBe('$');
  });
});
