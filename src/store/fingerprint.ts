/**
 * Short content identities for store and cache keys: files by absolute path, size and
 * modification time (cheap for millions of images; an edit that keeps both goes unnoticed), and
 * float32 arrays (model weights) by their bytes.
 */
import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseMemberPath } from '../data/image-members.js';

/**
 * Identity of files, in order: absolute path, size and modification time; errors name the file.
 * A member path (`<container>#<index>`, data/image-members.ts) counts its container's size and time.
 */
export function fileIdentity(paths: readonly string[]): string {
  const h = createHash('sha256');
  for (const p of paths) {
    const member = parseMemberPath(p);
    const abs = member ? `${member.file}#${member.index}` : resolve(p);
    let size: number;
    let mtimeMs: number;
    try {
      ({ size, mtimeMs } = statSync(member ? member.file : abs));
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

/** SHA-256 of bytes, in hex (the checksums of shards, model folders and downloads). */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
