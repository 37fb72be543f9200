/** Paths for tests, valid both from `test/` (tsx) and from `dist/test/` (compiled). */
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (the folder holding package.json). */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('package.json not found above the test folder');
    dir = up;
  }
  return dir;
}

/** A committed fixture file under test/fixtures. */
export function fixturePath(...parts: string[]): string {
  return join(repoRoot(), 'test', 'fixtures', ...parts);
}

/** A fresh temporary folder. */
export function tempDir(prefix = 'salf-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}
