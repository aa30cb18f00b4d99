import { describe, expect, it } from 'vitest';
import { isRole, roleAtLeast, ROLES } from '../../src/shared/roles';

describe('roles', () => {
  it('are ordered viewer < operator < admin, each allowed what the lower ones are', () => {
    expect(ROLES).toEqual(['viewer', 'operator', 'admin']);
    const allowed = ROLES.flatMap((have) => ROLES.filter((need) => roleAtLeast(have, need)).map((need) => `${have}→${need}`));
    expect(allowed).toEqual([
      'viewer→viewer',
      'operator→viewer',
      'operator→operator',
      'admin→viewer',
      'admin→operator',
      'admin→admin',
    ]);
  });

  it('are recognised by name only', () => {
    expect(isRole('operator')).toBe(true);
    expect(isRole('Admin')).toBe(false);
    expect(isRole('root')).toBe(false);
    expect(isRole(undefined)).toBe(false);
  });
});
