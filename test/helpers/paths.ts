/** Paths for tests, valid both from `test/` (tsx) and from `dist/test/` (compiled). */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../src/package-root.js';

/** The repository root (the folder holding package.json). */
export const repoRoot = packageRoot;

/** A committed fixture file under test/fixtures. */
export function fixturePath(...parts: string[]): string {
  return join(repoRoot(), 'test', 'fixtures', ...parts);
}

/** A fresh temporary folder. */
export function tempDir(prefix = 'salf-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}
