/** Atomic file writes: write a temporary sibling, flush it to disk, then rename over the target. */
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** Temporary files older than this are left over from a dead writer (a shard write takes seconds). */
export const STALE_TEMPORARY_MS = 10 * 60 * 1000;

/** Writes `data` to `path` so that readers see either the old file or the complete new one. */
export function writeFileAtomic(path: string, data: Uint8Array | string): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}-${Date.now()}`;
  const fd = openSync(tmp, 'w');
  try {
    const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
    let written = 0;
    while (written < bytes.length) written += writeSync(fd, bytes, written, bytes.length - written);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

/** Writes pretty JSON atomically. */
export function writeJsonAtomic(path: string, value: unknown): void {
  writeFileAtomic(path, JSON.stringify(value, null, 2) + '\n');
}

/**
 * Deletes the temporaries (`<name>.tmp-…`) in `dir` that a killed writer left behind: those
 * older than {@link STALE_TEMPORARY_MS}, so that a live writer's temporary is never touched.
 */
export function removeStaleTemporaries(dir: string): void {
  const now = Date.now();
  for (const name of readdirSync(dir)) {
    if (!name.includes('.tmp-')) continue;
    const p = join(dir, name);
    try {
      if (now - statSync(p).mtimeMs > STALE_TEMPORARY_MS) unlinkSync(p);
    } catch {
      // removed by another process meanwhile
    }
  }
}
