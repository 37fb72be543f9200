/** Paths for tests, valid both from `test/` (tsx) and from `dist/test/` (compiled). */
import { after } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
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

/**
 * A `tempDir` whose folders are removed when the calling test file's tests end; call it at the
 * top level of a test file.
 */
export function removedAfterTests(): (prefix?: string) => string {
  const made: string[] = [];
  after(() => made.forEach((d) => rmSync(d, { recursive: true, force: true })));
  return (prefix) => {
    const d = tempDir(prefix);
    made.push(d);
    return d;
  };
}
