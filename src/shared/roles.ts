/**
 * The roles of API keys and OIDC callers, and their rank: the one list the
 * gateway, the configuration, the command lines, the definition language,
 * the workflow (who may decide an approval) and the console all read.
 * Workflow-safe: no imports. The api_keys table's check constraint
 * (db/migrations) lists the same roles.
 */

/** Every role, lowest first: each one may do what the roles before it may. */
export const ROLES = ['viewer', 'operator', 'admin'] as const;

export type Role = (typeof ROLES)[number];

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

/** Whether `role` ranks at least as high as `needed`, so may do what needs `needed`. */
export function roleAtLeast(role: Role, needed: Role): boolean {
  return ROLES.indexOf(role) >= ROLES.indexOf(needed);
}
