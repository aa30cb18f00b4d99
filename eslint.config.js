// Lint rules. Workflow code runs in Temporal's deterministic sandbox, and
// src/shared is bundled into it: what they may import is an allow-list, so a
// new Node-side folder or package is refused until someone decides it is safe.
import { dirname, relative, resolve, sep } from 'node:path';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * Packages that are pure (no I/O, no clock, no randomness) and that both the
 * workflow bundle and Node code may load. `@temporalio/common` by its root
 * only: its `internal-non-workflow` parts are not for the sandbox.
 */
const PURE_PACKAGES = ['@temporalio/common', 'jsonata', 're2js', 'zod'];

/**
 * The workflow-safe files of the notification channels (channels/): what each
 * declares for the interpreter (`channel.ts`, bundled into the workflow) and
 * for the definition language (`schema.ts`), their connection types
 * (`connection.ts`), with their registries. Their
 * senders (`sender.ts`, `senders.ts`) are Node code.
 */
const CHANNEL_DECLARATIONS = ['channels/index.ts', 'channels/channel.ts', 'channels/*/channel.ts'];
const CHANNEL_FILES = [
  ...CHANNEL_DECLARATIONS,
  'channels/schemas.ts',
  'channels/schema.ts',
  'channels/*/schema.ts',
  'channels/connections.ts',
  'channels/connection.ts',
  'channels/*/connection.ts',
];

/**
 * Per kind of workflow code: its files, the project folders and files it may
 * import values from (files as globs; `*` stands for one folder name), and
 * the packages.
 */
const SANDBOX = {
  workflows: {
    files: ['workflows/**/*.ts'],
    folders: ['workflows', 'src/shared', ...CHANNEL_DECLARATIONS],
    packages: ['@temporalio/workflow', ...PURE_PACKAGES],
  },
  'src/shared': { files: ['src/shared/**/*.ts'], folders: ['src/shared', ...CHANNEL_FILES], packages: PURE_PACKAGES },
  channels: { files: CHANNEL_FILES, folders: ['src/shared', ...CHANNEL_FILES], packages: PURE_PACKAGES },
};

/** Whether `target` (a path from the root, maybe without its extension) is `entry`: a folder it lies in, or a file glob it matches. */
function within(target, entry) {
  if (!entry.endsWith('.ts')) return target === entry || target.startsWith(entry + '/');
  const file = new RegExp('^' + entry.replace(/\.ts$/, '').replace(/\*/g, '[^/]+') + '(\\.ts)?$');
  // `../channels` names channels/index.ts.
  return file.test(target) || (entry.endsWith('/index.ts') && target === entry.slice(0, -'/index.ts'.length));
}

const onlyTypes = (specifiers, kind) =>
  specifiers.length > 0 && specifiers.every((s) => s[kind] === 'type');

/**
 * Refuses every import of a value that is neither one of `packages` nor a
 * file inside `folders` (relative imports are resolved, so `../x` means what
 * it points at). Type-only imports (`import type`, `import { type X }`,
 * `export type … from`) are erased before bundling and allowed from anywhere.
 */
const sandboxImports = {
  meta: {
    type: 'problem',
    schema: [{
      type: 'object',
      properties: { folders: { type: 'array', items: { type: 'string' } }, packages: { type: 'array', items: { type: 'string' } } },
      required: ['folders', 'packages'],
      additionalProperties: false,
    }],
    messages: {
      outside:
        "'{{source}}' is not workflow-safe: {{where}} may import values only from {{allowed}}. " +
        'Import it with `import type`, or move the pure piece into src/shared.',
      computed: 'workflow code may not import a module named at run time',
    },
  },
  create(context) {
    const { folders, packages } = context.options[0];
    const here = dirname(context.filename);
    const where = relative(import.meta.dirname, context.filename).split(sep).join('/');
    const allowed = [...folders.map((f) => (f.endsWith('.ts') ? f : f + '/')), ...packages].join(', ');
    const isAllowed = (source) => {
      if (!source.startsWith('.') && !source.startsWith('/')) return packages.includes(source);
      const target = relative(import.meta.dirname, resolve(here, source)).split(sep).join('/');
      return folders.some((f) => within(target, f));
    };
    const check = (node, sourceNode) => {
      if (sourceNode?.type !== 'Literal' || typeof sourceNode.value !== 'string') {
        context.report({ node, messageId: 'computed' });
      } else if (!isAllowed(sourceNode.value)) {
        context.report({ node, messageId: 'outside', data: { source: sourceNode.value, where, allowed } });
      }
    };
    return {
      ImportDeclaration(node) {
        if (node.importKind === 'type' || onlyTypes(node.specifiers, 'importKind')) return;
        check(node, node.source);
      },
      ExportNamedDeclaration(node) {
        if (!node.source || node.exportKind === 'type' || onlyTypes(node.specifiers, 'exportKind')) return;
        check(node, node.source);
      },
      ExportAllDeclaration(node) {
        if (node.exportKind !== 'type') check(node, node.source);
      },
      TSImportEqualsDeclaration(node) {
        if (node.importKind !== 'type' && node.moduleReference.type === 'TSExternalModuleReference') {
          check(node, node.moduleReference.expression);
        }
      },
      ImportExpression(node) {
        check(node, node.source);
      },
      'CallExpression[callee.type="Identifier"][callee.name="require"]'(node) {
        check(node, node.arguments[0]);
      },
    };
  },
};

const sandbox = { rules: { imports: sandboxImports } };

export default tseslint.config(
  { ignores: ['node_modules/', 'data/', 'dist/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts', '**/*.tsx'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
  ...Object.values(SANDBOX).map(({ files, ...allowed }) => ({
    files,
    plugins: { sandbox },
    rules: { 'sandbox/imports': ['error', allowed] },
  })),
  {
    // db/ holds tables and queries: the services import it, never the other way round. Only the
    // pure vocabulary of src/shared/ (statuses, roles, the definition's types) may be shared.
    files: ['db/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [{
          regex: '^(\\.\\./)+src/(?!shared/)',
          message: 'db/ may import from src/ only src/shared/: pass what it needs in, or move the pure piece into src/shared.',
        }],
      }],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: { globals: { console: 'readonly', process: 'readonly' } },
  },
  {
    // CommonJS stand-ins bundled into the workflow code (src/worker/bundle-shims/): they require lazily on purpose.
    files: ['**/*.cjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: { sourceType: 'commonjs', globals: { module: 'writable', exports: 'writable', require: 'readonly' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
