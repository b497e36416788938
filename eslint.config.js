// Type-aware lint. What we care most about: no-floating-promises (a dropped promise is a lost task
// or an unhandled rejection in a long-lived process), the no-unsafe-* family (an `any` from the
// wire must be decoded, not trusted), and the package boundaries below.
import js from '@eslint/js'
import tseslint from 'typescript-eslint'

/**
 * Package boundaries, arrows one way (README "Architecture"):
 *
 *   manager ─┐            ┌─ delegate
 *            ├─▶ protocol ◀┤
 *            └─▶ common   ◀┘            cli ─▶ protocol, common (and the manager's API types)
 *
 * manager and delegate never import each other; protocol (the wire) and common (what both
 * processes use) import neither. Import cycles between files are checked by
 * `node scripts/import-graph.ts --check` (a test runs it).
 */
const forbid = (...packages) => ({
  '@typescript-eslint/no-restricted-imports': [
    'error',
    {
      patterns: packages.map((p) => ({
        group: [`**/${p}/src/**`, `**/${p}/console/**`],
        message: `this package must not import ${p}/ (see the package boundaries in eslint.config.js)`,
      })),
    },
  ],
})

// what the console's plain DOM modules use of the browser
const browserGlobals = Object.fromEntries(
  [
    'window', 'document', 'fetch', 'sessionStorage', 'localStorage', 'location', 'history', 'navigator',
    'console', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'requestAnimationFrame',
    'URL', 'URLSearchParams', 'AbortController', 'Node', 'Event', 'CustomEvent', 'EventTarget', 'HTMLElement', 'alert', 'confirm',
    'performance', 'queueMicrotask', 'Intl', 'ResizeObserver',
  ].map((name) => [name, 'readonly']),
)

export default tseslint.config(
  { ignores: ['node_modules/**', 'coverage/**', 'test-results/**', '.scratch/**', '.demo/**', 'dist/**', '**/*.mjs'] },
  js.configs.recommended,
  {
    files: ['**/*.ts'],
    extends: [...tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/only-throw-error': 'error',
      '@typescript-eslint/restrict-template-expressions': 'off',
      '@typescript-eslint/require-await': 'off',
    },
  },
  { files: ['manager/src/**/*.ts'], rules: forbid('delegate', 'cli') },
  { files: ['delegate/src/**/*.ts'], rules: forbid('manager', 'cli') },
  { files: ['protocol/src/**/*.ts'], rules: forbid('manager', 'delegate', 'common', 'cli') },
  { files: ['common/src/**/*.ts'], rules: forbid('manager', 'delegate', 'protocol', 'cli') },
  {
    // the CLI is a client of the REST API: it may name the manager's response types, nothing else
    files: ['cli/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['**/manager/src/**'], allowTypeImports: true, message: 'the CLI may import only types from manager/src' },
            { group: ['**/delegate/src/**'], message: 'the CLI must not import delegate/' },
          ],
        },
      ],
    },
  },
  {
    // Tests, benchmarks and scripts read JSON answers loosely (`any` from the test API client);
    // production code may not.
    files: ['**/test/**/*.ts', 'test/**/*.ts', 'bench/**/*.ts', 'scripts/**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  {
    // the web console: plain ES modules in the browser, no build step
    files: ['manager/console/**/*.js'],
    languageOptions: { sourceType: 'module', globals: browserGlobals },
    rules: { 'no-unused-vars': ['error', { argsIgnorePattern: '^_' }] },
  },
  {
    files: ['cli/delegatectl.js'],
    languageOptions: { sourceType: 'module', globals: { process: 'readonly' } },
  },
)
