// ESLint (flat config): JavaScript's and typescript-eslint's recommended rules, plus a few
// type-aware ones that catch real bugs (floating or misused promises, awaiting non-promises).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', '.cache/', '.venv/', '.venv-torchvision/', 'salf-cbm-demo/', 'deploy/', 'assets/', 'docs/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // node:test's test() and describe() return promises the runner awaits.
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['test', 'it', 'describe', 'suite', 'before', 'after', 'beforeEach', 'afterEach'] },
          ],
        },
      ],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // Re-thrown errors quote the cause's message and name the file; attaching `cause` everywhere
      // would be a mass edit for little gain.
      'preserve-caught-error': 'off',
      // Empty catch blocks are used on purpose (best-effort clean-up), each with a comment.
      'no-empty': ['error', { allowEmptyCatch: true }],
    },
  },
);
