/**
 * Short content identities for store and cache keys: files by absolute path, size and
 * modification time (cheap for millions of images; an edit that keeps both goes unnoticed), and
 * float32 arrays (model weights) by their bytes.
 */
import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import { resolve } from 'node:path';

/** Identity of files, in order: absolute path, size and modification time; errors name the file. */
export function fileIdentity(paths: readonly string[]): string {
  const h = createHash('sha256');
  for (const p of paths) {
    const abs = resolve(p);
    let size: number;
    let mtimeMs: number;
    try {
      ({ size, mtimeMs } = statSync(abs));
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw new Error(`${abs}: cannot read the file (${e.code ?? e.message})`);
    }
    h.update(`${abs}\0${size}\0${mtimeMs}\n`);
  }
  return h.digest('hex').slice(0, 32);
}

/** A short hash of float32 arrays (model weights in cache keys). */
export function arraysIdentity(arrays: readonly Float32Array[]): string {
  const h = createHash('sha256');
  for (const a of arrays) h.update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  return h.digest('hex').slice(0, 32);
}
