// Lint rules. Workflow code runs in Temporal's deterministic sandbox: it may
// import only workflow-safe modules (src/shared, the SDK's workflow package),
// never Node built-ins, database drivers or provider clients.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const NODE_BUILTINS = [
  'assert', 'buffer', 'child_process', 'cluster', 'crypto', 'dgram', 'dns', 'events', 'fs', 'fs/promises',
  'http', 'http2', 'https', 'net', 'os', 'path', 'perf_hooks', 'process', 'readline', 'stream', 'timers',
  'tls', 'url', 'util', 'v8', 'vm', 'worker_threads', 'zlib',
];

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
  {
    files: ['workflows/**/*.ts', 'src/shared/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            ...NODE_BUILTINS.flatMap((name) => [
              { name, message: 'workflow code must be deterministic: no Node built-ins' },
              { name: `node:${name}`, message: 'workflow code must be deterministic: no Node built-ins' },
            ]),
            { name: 'pg', message: 'workflow code may not reach the database; use an activity' },
            { name: 'kysely', message: 'workflow code may not reach the database; use an activity' },
            { name: 'nodemailer', message: 'side effects belong in activities' },
            { name: 'twilio', message: 'side effects belong in activities' },
            { name: '@slack/web-api', message: 'side effects belong in activities' },
            { name: '@temporalio/client', message: 'workflows use @temporalio/workflow' },
            { name: '@temporalio/worker', message: 'workflows use @temporalio/workflow' },
            { name: '@temporalio/activity', message: 'workflows use @temporalio/workflow' },
          ],
          patterns: [
            {
              group: ['**/db/**', '**/db', '**/src/gateway/**', '**/src/config', '**/src/logger'],
              message: 'workflow code may import only src/shared and, as types, activities',
            },
            {
              group: ['**/activities', '**/activities/**'],
              allowTypeImports: true,
              message: 'workflow code imports activities as types only',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: { globals: { console: 'readonly', process: 'readonly' } },
  },
);
