/**
 * Resumable evaluation results: JSON records written in shards (a fixed number of consecutive
 * items), each shard atomically (src/data/atomic-write.ts), in a folder named by a hash of
 * everything that determines them (model, data, settings). A killed run keeps its finished
 * shards; a rerun with the same inputs reads them back and computes only the missing ones.
 * Per-image float arrays go to a row store instead (src/store/row-store.ts: checksummed shards).
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { writeFileAtomic, writeJsonAtomic } from '../data/atomic-write.js';

/** A folder of shards for one (model, data, settings) combination. */
export class ShardCache {
  /** The folder holding the shards. */
  readonly dir: string;

  /**
   * `root` is the cache folder, `kind` a short name (e.g. `segmentation`), `identity` any JSON
   * that determines the results (hashed into the folder name and stored beside the shards).
   */
  constructor(root: string, kind: string, readonly identity: unknown, readonly shardSize: number) {
    if (!Number.isInteger(shardSize) || shardSize < 1) throw new Error(`ShardCache: shard size must be a positive integer, got ${shardSize}`);
    const key = createHash('sha256').update(JSON.stringify({ kind, identity, shardSize })).digest('hex').slice(0, 24);
    this.dir = join(resolve(root), `${kind}-${key}`);
    const meta = join(this.dir, 'identity.json');
    if (!existsSync(meta)) writeJsonAtomic(meta, { kind, shardSize, identity });
  }

  /** Number of shards for `count` items. */
  shards(count: number): number {
    return Math.ceil(count / this.shardSize);
  }

  /** Items [start, end) of shard `s` among `count`. */
  range(s: number, count: number): [number, number] {
    return [s * this.shardSize, Math.min(count, (s + 1) * this.shardSize)];
  }

  private path(s: number, ext: string): string {
    return join(this.dir, `shard-${String(s).padStart(6, '0')}.${ext}`);
  }

  /** The JSON of shard `s`, or undefined when it is not written yet. */
  readJson<T>(s: number): T | undefined {
    const p = this.path(s, 'json');
    if (!existsSync(p)) return undefined;
    try {
      return JSON.parse(readFileSync(p, 'utf8')) as T;
    } catch (err) {
      throw new Error(`${p}: unreadable cache shard (${(err as Error).message}); delete it to recompute`);
    }
  }

  writeJson(s: number, value: unknown): void {
    writeFileAtomic(this.path(s, 'json'), JSON.stringify(value) + '\n');
  }
}
