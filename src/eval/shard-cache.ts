/**
 * Resumable evaluation results: JSON records written in shards (a fixed number of consecutive
 * items), each shard atomically (src/data/atomic-write.ts), in a folder named by a hash of
 * everything that determines them (model, data, settings). A killed run keeps its finished
 * shards; a rerun with the same inputs reads them back and computes only the missing ones.
 * Per-image float arrays go to a row store instead (src/store/row-store.ts: checksummed shards).
 *
 * A shard file (`shard-NNNNNN.jsonl`) is two lines: a header
 * `{"format":"salf-cbm.json-shard","version":1,"bytes":<n>,"sha256":"<hex>"}` and the payload,
 * the JSON text whose UTF-8 bytes the header counts and hashes. Every read verifies both, so a
 * truncated shard or one changed in place (even at the same size) is never used: reading it
 * throws an error naming the file and saying how to have it recomputed.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { removeStaleTemporaries, writeFileAtomic, writeJsonAtomic } from '../data/atomic-write.js';
import { sha256Hex } from '../store/fingerprint.js';

const FORMAT = 'salf-cbm.json-shard';
const VERSION = 1;

/** A folder of shards for one (model, data, settings) combination. */
export class ShardCache {
  /** The folder holding the shards. */
  readonly dir: string;

  /**
   * `root` is the cache folder, `kind` a short name (e.g. `segmentation`), `identity` any JSON
   * that determines the results (hashed into the folder name and stored beside the shards).
   */
  constructor(
    root: string,
    kind: string,
    readonly identity: unknown,
    readonly shardSize: number,
  ) {
    if (!Number.isInteger(shardSize) || shardSize < 1) throw new Error(`ShardCache: shard size must be a positive integer, got ${shardSize}`);
    // The shard format is part of the key: folders of older, unchecksummed shards are not read.
    const key = createHash('sha256')
      .update(JSON.stringify({ format: FORMAT, version: VERSION, kind, identity, shardSize }))
      .digest('hex')
      .slice(0, 24);
    this.dir = join(resolve(root), `${kind}-${key}`);
    const meta = join(this.dir, 'identity.json');
    if (!existsSync(meta)) writeJsonAtomic(meta, { kind, shardSize, identity });
    removeStaleTemporaries(this.dir);
  }

  /** Number of shards for `count` items. */
  shards(count: number): number {
    return Math.ceil(count / this.shardSize);
  }

  /** Items [start, end) of shard `s` among `count`. */
  range(s: number, count: number): [number, number] {
    return [s * this.shardSize, Math.min(count, (s + 1) * this.shardSize)];
  }

  /** The file of shard `s`. */
  path(s: number): string {
    return join(this.dir, `shard-${String(s).padStart(6, '0')}.jsonl`);
  }

  /** The JSON of shard `s` (checksum verified), or undefined when it is not written yet. */
  readJson<T>(s: number): T | undefined {
    const p = this.path(s);
    if (!existsSync(p)) return undefined;
    return readJsonShard(p) as T;
  }

  /** Writes shard `s` (header with the payload's length and SHA-256, then the payload) atomically. */
  writeJson(s: number, value: unknown): void {
    const payload = Buffer.from(JSON.stringify(value), 'utf8');
    const header = { format: FORMAT, version: VERSION, bytes: payload.length, sha256: sha256Hex(payload) };
    writeFileAtomic(this.path(s), Buffer.concat([Buffer.from(JSON.stringify(header) + '\n'), payload, Buffer.from('\n')]));
  }
}

/**
 * The payload of the shard file at `path`, after checking its header, length and SHA-256;
 * an error naming the file and the problem when any of them is wrong.
 */
export function readJsonShard(path: string): unknown {
  const bytes = readFileSync(path);
  const eol = bytes.indexOf(0x0a);
  if (eol < 0) throw corrupt(path, 'no header line');
  let header: { format?: unknown; version?: unknown; bytes?: unknown; sha256?: unknown } | null;
  try {
    header = JSON.parse(bytes.toString('utf8', 0, eol)) as typeof header;
  } catch {
    throw corrupt(path, 'unreadable header');
  }
  if (typeof header !== 'object' || header === null) throw corrupt(path, 'unreadable header');
  if (header.format !== FORMAT || header.version !== VERSION) throw corrupt(path, `not a ${FORMAT} version ${VERSION} file`);
  if (!Number.isSafeInteger(header.bytes) || typeof header.bytes !== 'number' || header.bytes < 0 || typeof header.sha256 !== 'string')
    throw corrupt(path, 'header without bytes and sha256');
  const payload = bytes.subarray(eol + 1, eol + 1 + header.bytes);
  const trailer = bytes.subarray(eol + 1 + header.bytes);
  if (payload.length !== header.bytes || trailer.length !== 1 || trailer[0] !== 0x0a) {
    throw corrupt(path, `holds ${bytes.length} bytes, expected ${eol + 2 + header.bytes}`);
  }
  if (sha256Hex(payload) !== header.sha256) throw corrupt(path, 'checksum mismatch');
  return JSON.parse(payload.toString('utf8'));
}

function corrupt(path: string, problem: string): Error {
  return new Error(`${path}: corrupt evaluation shard (${problem}); it is never used: delete the file and rerun to recompute it`);
}
