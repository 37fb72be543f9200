/**
 * The resumable on-disk store of prompted-image embeddings I[n, g, :] (N images × G prompts × E):
 * a row store (src/store/row-store.ts) of kind `prompted` with one float16 field `I` of shape
 * [G, E], in shards of `shardSize` images, each with a SHA-256 verified on read.
 *
 * The store's identity is everything that determines the values: encoder id, input size, resize
 * description, pixel mean/std, grid, radius, placement, line width, colour, embedding width, and
 * the ordered image list with each file's fingerprint (its digest). (The encoder batch size is not
 * part of it: it changes results only at rounding level.) Changing any of them gives another
 * folder, so stale results are never reused. `images.txt` beside the manifest lists the image
 * paths, one a line.
 *
 * Image fingerprints: `stat` (default) is path (absolute) + size + mtime, cheap for millions of
 * images; an edit that keeps both size and mtime goes unnoticed. `content` hashes every file
 * (SHA-256), which is exact but reads all the data once.
 *
 * Images that could not be loaded (with `skipBad`) are zero rows listed in their shard's meta as
 * `skipped`. Several workers may fill one store at once, each its own shards.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { writeFileAtomic } from '../data/atomic-write.js';
import { decodeMember, parseMemberPath } from '../data/image-members.js';
import { asFloat32, RowStore, type BeforeShardCommit, type RowStoreManifest, type RowStoreSpec } from '../store/row-store.js';
import type { Placement } from './prompting.js';

/** How image files are identified in the cache key. */
export type Fingerprint = 'stat' | 'content';

/** Everything that determines the stored embeddings. */
export interface StoreKeyFields {
  encoderId: string;
  inputSize: number;
  /** How images were brought to the input size (e.g. a ResizeSpec); compared as JSON. */
  resize: unknown;
  /** The encoder's pixel normalisation. */
  mean: readonly number[];
  std: readonly number[];
  grid: [number, number];
  radius: number;
  placement: Placement;
  thickness: number;
  color: [number, number, number];
  embedDim: number;
  shardSize: number;
}

/** Options for {@link EmbeddingStore.open}. */
export interface OpenStoreOptions extends StoreKeyFields {
  /** Parent folder; the store lives in a sub-folder named after the key. */
  cacheDir: string;
  /** Image files, in order (row n of the store is images[n]). */
  images: readonly string[];
  fingerprint?: Fingerprint;
}

/** One shard's embeddings, decoded to float32 (count×G×E). */
export interface ShardData {
  index: number;
  first: number;
  count: number;
  data: Float32Array;
}

/** An image that could not be loaded: a zero row. */
export interface SkippedImage {
  row: number;
  path: string;
  reason: string;
}

/** The row-store spec of the prompted embeddings these options describe (image files are fingerprinted). */
export async function promptedStoreSpec(options: OpenStoreOptions): Promise<RowStoreSpec> {
  const { shardSize, ...fields } = keyFields(options);
  const fingerprint = options.fingerprint ?? 'stat';
  const images = options.images.map((p) => resolve(p));
  if (images.length === 0) throw new Error('embedding store: the image list is empty');
  const imagesDigest = await digestImages(images, fingerprint);
  return {
    kind: 'prompted',
    identity: { ...fields, fingerprint, imagesDigest },
    numRows: images.length,
    shardSize,
    fields: [{ name: 'I', shape: [fields.grid[0] * fields.grid[1], fields.embedDim], dtype: 'float16' }],
  };
}

/** The prompted-embedding store; see the module comment. */
export class EmbeddingStore {
  readonly numImages: number;
  readonly promptsPerImage: number;
  readonly embedDim: number;
  readonly shardSize: number;
  readonly numShards: number;

  private constructor(readonly rows: RowStore) {
    const [G, E] = rows.field('I').shape as [number, number];
    this.numImages = rows.numRows;
    this.promptsPerImage = G;
    this.embedDim = E;
    this.shardSize = rows.shardSize;
    this.numShards = rows.numShards;
  }

  /**
   * Opens (creating if needed) the store for these inputs, under `cacheDir`. Shards stored by
   * earlier or concurrent runs are kept.
   */
  static async open(options: OpenStoreOptions): Promise<EmbeddingStore> {
    const rows = RowStore.open(options.cacheDir, await promptedStoreSpec(options));
    const list = join(rows.dir, 'images.txt');
    if (!existsSync(list)) writeFileAtomic(list, options.images.map((p) => resolve(p)).join('\n') + '\n');
    return new EmbeddingStore(rows);
  }

  /** Opens an existing store folder for reading (no inputs needed). */
  static openExisting(dir: string): EmbeddingStore {
    return new EmbeddingStore(RowStore.openExisting(dir));
  }

  get dir(): string {
    return this.rows.dir;
  }

  /** The manifest written beside the shards (its identity holds the key fields). */
  get manifest(): RowStoreManifest {
    return this.rows.manifest;
  }

  /** Images [first, first+count) of shard `index`. */
  shardRange(index: number): { first: number; count: number } {
    return this.rows.shardRange(index);
  }

  /** The shard file's path. */
  shardPath(index: number): string {
    return this.rows.shardPath(index);
  }

  /** Whether shard `index` is stored completely. */
  isComplete(index: number): boolean {
    return this.rows.isComplete(index);
  }

  /** Shards still to compute, ascending. */
  missingShards(): number[] {
    return this.rows.missingShards();
  }

  /** Images in stored shards. */
  completedImages(): number {
    let n = 0;
    for (let i = 0; i < this.numShards; i++) if (this.isComplete(i)) n += this.shardRange(i).count;
    return n;
  }

  /** True when every shard is stored. */
  get complete(): boolean {
    return this.rows.complete;
  }

  /** The image paths, row order (from images.txt). */
  imagePaths(): string[] {
    const text = readFileSync(join(this.dir, 'images.txt'), 'utf8');
    return text.split('\n').slice(0, this.numImages);
  }

  /**
   * Stores shard `index` (count×G×E float32 values, rounded to float16) atomically; `skipped`
   * lists its images that could not be loaded (zero rows).
   */
  writeShard(index: number, data: Float32Array, skipped: readonly SkippedImage[] = [], beforeCommit?: BeforeShardCommit): void {
    this.rows.writeShard(index, { I: data }, { skipped }, beforeCommit);
  }

  /** Shard `index` decoded to float32 (count×G×E), checksum verified. */
  readShard(index: number): Float32Array {
    return this.rows.readField(index, 'I');
  }

  /** The shards in order, each decoded to float32. */
  *shards(): Generator<ShardData> {
    for (let i = 0; i < this.numShards; i++) {
      const { first, count } = this.shardRange(i);
      yield { index: i, first, count, data: this.readShard(i) };
    }
  }

  /** Images that could not be loaded, from the metas of `shards` (every shard by default; all must be stored). */
  skipped(shards: readonly number[] = Array.from({ length: this.numShards }, (_, s) => s)): SkippedImage[] {
    return shards.flatMap((s) => {
      const list = this.rows.readMeta(s).skipped;
      return Array.isArray(list) ? (list as SkippedImage[]) : [];
    });
  }

  /** Embeddings of `rows`, rows.length×G×E float32. */
  readRows(rows: readonly number[]): Float32Array {
    return asFloat32(this.rows.readRows('I', rows));
  }

  /** All embeddings, N×G×E float32 (row-major: image, prompt, channel). */
  readAll(): Float32Array {
    const missing = this.missingShards();
    if (missing.length > 0) throw new Error(`${this.dir}: ${missing.length} of ${this.numShards} shards are missing`);
    const per = this.promptsPerImage * this.embedDim;
    const out = new Float32Array(this.numImages * per);
    for (let i = 0; i < this.numShards; i++) out.set(this.readShard(i), this.shardRange(i).first * per);
    return out;
  }
}

function keyFields(o: StoreKeyFields): StoreKeyFields {
  const posInt = (v: number, name: string): number => {
    if (!Number.isInteger(v) || v <= 0) throw new Error(`embedding store: ${name} must be a positive integer, got ${v}`);
    return v;
  };
  if (typeof o.encoderId !== 'string' || o.encoderId.length === 0) throw new Error('embedding store: encoderId is empty');
  if (o.resize === undefined) throw new Error('embedding store: resize (how images reach the input size) is required');
  return {
    encoderId: o.encoderId,
    inputSize: posInt(o.inputSize, 'inputSize'),
    resize: JSON.parse(JSON.stringify(o.resize)) as unknown,
    mean: triple(o.mean, 'mean'),
    std: triple(o.std, 'std'),
    grid: [posInt(o.grid[0], 'grid[0]'), posInt(o.grid[1], 'grid[1]')],
    radius: o.radius,
    placement: o.placement,
    thickness: o.thickness,
    color: [o.color[0], o.color[1], o.color[2]],
    embedDim: posInt(o.embedDim, 'embedDim'),
    shardSize: posInt(o.shardSize, 'shardSize'),
  };
}

function triple(v: readonly number[], name: string): number[] {
  if (v.length !== 3 || !v.every((x) => Number.isFinite(x))) throw new Error(`embedding store: ${name} must be three finite numbers`);
  return [v[0]!, v[1]!, v[2]!];
}

async function digestImages(images: readonly string[], fingerprint: Fingerprint): Promise<string> {
  const h = createHash('sha256');
  const prints = new Array<string>(images.length);
  const concurrency = fingerprint === 'stat' ? 64 : 4;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < images.length) {
      const i = next++;
      prints[i] = await fingerprintOf(images[i]!, fingerprint);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, images.length) }, worker));
  for (let i = 0; i < images.length; i++) h.update(`${images[i]}\0${prints[i]}\n`);
  return h.digest('hex');
}

/** A member path (data/image-members.ts): by its container's size and time and its index (`stat`), or its pixels (`content`). */
async function fingerprintOf(path: string, fingerprint: Fingerprint): Promise<string> {
  const member = parseMemberPath(path);
  const file = member ? member.file : path;
  const suffix = member ? `#${member.index}` : '';
  try {
    if (fingerprint === 'stat') {
      const s = await stat(file);
      if (!s.isFile()) throw new Error('not a file');
      return `${s.size}:${s.mtimeMs}${suffix}`;
    }
    const h = createHash('sha256');
    if (member) h.update(decodeMember(member).data);
    else for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
    return h.digest('hex');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new Error(`${path}: cannot read image file (${e.code ?? e.message})`);
  }
}
