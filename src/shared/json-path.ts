/**
 * The one way the product names a place in a JSON document: a JSON path,
 * `$` for the root, `.name` for a property (`["odd name"]` when it is not an
 * identifier) and `[0]` for an item — `$.steps[2].to`, `$.body.triggerData`,
 * `$.headers["webhook-id"]`. Every validation answer uses it
 * (docs/API_REFERENCE.md, "Errors"). Workflow-safe.
 */

/** `['steps', 2, 'to']` → `$.steps[2].to`; `['a b']` → `$["a b"]`. */
export function jsonPath(path: readonly (string | number | symbol)[]): string {
  return path.reduce<string>((acc, part) => {
    if (typeof part === 'number') return `${acc}[${part}]`;
    const name = String(part);
    return /^[A-Za-z_$][\w$]*$/.test(name) ? `${acc}.${name}` : `${acc}[${JSON.stringify(name)}]`;
  }, '$');
}

/** `$.body` + `$.orderId` → `$.body.orderId`: a path inside a document that sits at `root`. */
export function underPath(root: string, path: string): string {
  return path === '$' ? root : `${root}${path.slice(1)}`;
}
