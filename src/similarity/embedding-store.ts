/**
 * A resumable on-disk store of prompted-image embeddings I[n, g, :] (N images × G prompts × E),
 * float16, in shards of `shardSize` images.
 *
 * Layout: `<cacheDir>/prompted-<key>/` where `<key>` is a SHA-256 (first 32 hex digits) of
 * everything that determines the values: encoder id, input size, resize description, pixel
 * mean/std, grid, radius, placement, line width, colour, embedding width, shard size, and the
 * ordered image list with each file's fingerprint. (The encoder batch size is not part of it: it
 * changes results only at rounding level.) Changing any of them gives another directory, so stale results
 * are never reused.
 *
 * Image fingerprints: `stat` (default) is path (absolute) + size + mtime, cheap for millions of
 * images; an edit that keeps both size and mtime goes unnoticed. `content` hashes every file
 * (SHA-256), which is exact but reads all the data once.
 *
 * Files: `manifest.json` (the key fields), `images.txt` (the image paths, one a line) and
 * `shard-NNNNNN.f16`: a 32-byte header (magic `SALFE16\0`, then u32 LE: version, shard index,
 * first image, image count, prompts per image, embedding width) followed by count×G×E float16
 * (little-endian). A shard is written to a temporary file, fsynced and renamed, so a shard file
 * under its final name is always complete; on opening, leftover temporary files are removed and
 * any shard whose header or size is wrong is deleted and recomputed. One writer per directory.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { writeFileAtomic } from '../data/atomic-write.js';
import { fromFloat16Bits, toFloat16Bits } from './float16.js';
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

/** The manifest written beside the shards. */
export interface StoreManifest extends StoreKeyFields {
  format: typeof FORMAT;
  version: number;
  key: string;
  dtype: 'float16';
  numImages: number;
  promptsPerImage: number;
  numShards: number;
  fingerprint: Fingerprint;
  /** SHA-256 of the image list with fingerprints. */
  imagesDigest: string;
  createdAt: string;
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

/** Called after a shard's temporary file is complete and before it is renamed (for tests). */
export type BeforeCommit = (shard: number, tmpPath: string) => void | Promise<void>;

const FORMAT = 'salf-cbm.prompted-embeddings';
const VERSION = 1;
const MAGIC = 'SALFE16\0';
const HEADER_BYTES = 32;

/** The resumable float16 embedding store; see the module comment. */
export class EmbeddingStore {
  readonly numImages: number;
  readonly promptsPerImage: number;
  readonly embedDim: number;
  readonly shardSize: number;
  readonly numShards: number;
  private readonly done: boolean[];

  private constructor(readonly dir: string, readonly manifest: StoreManifest) {
    this.numImages = manifest.numImages;
    this.promptsPerImage = manifest.promptsPerImage;
    this.embedDim = manifest.embedDim;
    this.shardSize = manifest.shardSize;
    this.numShards = manifest.numShards;
    this.done = Array.from({ length: this.numShards }, (_, i) => this.validShard(i));
  }

  /**
   * Opens (creating if needed) the store for these inputs, under `cacheDir`. Completed shards
   * of an earlier, interrupted run are kept; temporary and damaged files are removed.
   */
  static async open(options: OpenStoreOptions): Promise<EmbeddingStore> {
    const fields = keyFields(options);
    const fingerprint = options.fingerprint ?? 'stat';
    const images = options.images.map((p) => resolve(p));
    if (images.length === 0) throw new Error('embedding store: the image list is empty');
    const imagesDigest = await digestImages(images, fingerprint);
    const key = createHash('sha256')
      .update(JSON.stringify({ format: FORMAT, version: VERSION, ...fields, fingerprint, numImages: images.length, imagesDigest }))
      .digest('hex')
      .slice(0, 32);
    const dir = join(options.cacheDir, `prompted-${key}`);
    const manifestPath = join(dir, 'manifest.json');
    mkdirSync(dir, { recursive: true });
    if (existsSync(manifestPath)) {
      const m = readManifest(dir);
      if (m.key !== key || m.imagesDigest !== imagesDigest) {
        throw new Error(`${manifestPath}: manifest does not match the inputs hashed to this folder (delete the folder)`);
      }
    } else {
      const G = fields.grid[0] * fields.grid[1];
      const manifest: StoreManifest = {
        format: FORMAT,
        version: VERSION,
        key,
        ...fields,
        dtype: 'float16',
        numImages: images.length,
        promptsPerImage: G,
        numShards: Math.ceil(images.length / fields.shardSize),
        fingerprint,
        imagesDigest,
        createdAt: new Date().toISOString(),
      };
      writeFileAtomic(join(dir, 'images.txt'), images.join('\n') + '\n');
      writeFileAtomic(manifestPath, JSON.stringify(manifest, null, 2) + '\n');
    }
    removeTemporaries(dir);
    const store = new EmbeddingStore(dir, readManifest(dir));
    for (let i = 0; i < store.numShards; i++) {
      const p = store.shardPath(i);
      if (!store.done[i] && existsSync(p)) unlinkSync(p);
    }
    return store;
  }

  /** Opens an existing store folder for reading (no inputs needed). */
  static openExisting(dir: string): EmbeddingStore {
    return new EmbeddingStore(dir, readManifest(dir));
  }

  /** Images [first, first+count) of shard `index`. */
  shardRange(index: number): { first: number; count: number } {
    this.checkIndex(index);
    const first = index * this.shardSize;
    return { first, count: Math.min(this.shardSize, this.numImages - first) };
  }

  /** The shard file's path. */
  shardPath(index: number): string {
    return join(this.dir, `shard-${String(index).padStart(6, '0')}.f16`);
  }

  /** Whether shard `index` is stored completely. */
  isComplete(index: number): boolean {
    this.checkIndex(index);
    return this.done[index]!;
  }

  /** Shards still to compute, ascending. */
  missingShards(): number[] {
    return this.done.flatMap((d, i) => (d ? [] : [i]));
  }

  /** Images in completed shards. */
  completedImages(): number {
    let n = 0;
    for (let i = 0; i < this.numShards; i++) if (this.done[i]) n += this.shardRange(i).count;
    return n;
  }

  /** True when every shard is stored. */
  get complete(): boolean {
    return this.done.every((d) => d);
  }

  /** The image paths, row order (from images.txt). */
  imagePaths(): string[] {
    const text = readFileSync(join(this.dir, 'images.txt'), 'utf8');
    return text.split('\n').slice(0, this.numImages);
  }

  /**
   * Stores shard `index` (count×G×E float32 values, rounded to float16) atomically: temporary
   * file, fsync, rename, fsync of the folder.
   */
  async writeShard(index: number, data: Float32Array, beforeCommit?: BeforeCommit): Promise<void> {
    const { first, count } = this.shardRange(index);
    const expected = count * this.promptsPerImage * this.embedDim;
    if (data.length !== expected) {
      throw new Error(`embedding store: shard ${index} needs ${expected} values (${count}×${this.promptsPerImage}×${this.embedDim}), got ${data.length}`);
    }
    const bits = toFloat16Bits(data);
    const header = makeHeader(index, first, count, this.promptsPerImage, this.embedDim);
    const path = this.shardPath(index);
    const tmp = `${path}.tmp-${process.pid}-${Date.now()}`;
    const fd = openSync(tmp, 'w');
    try {
      writeAll(fd, header);
      writeAll(fd, new Uint8Array(bits.buffer, bits.byteOffset, bits.byteLength));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    if (beforeCommit) await beforeCommit(index, tmp);
    renameSync(tmp, path);
    syncDir(this.dir);
    this.done[index] = true;
  }

  /** Shard `index` decoded to float32 (count×G×E), into `out` at `offset` when given. */
  readShard(index: number, out?: Float32Array, offset = 0): Float32Array {
    const { first, count } = this.shardRange(index);
    const path = this.shardPath(index);
    if (!this.done[index]) throw new Error(`${path}: shard ${index} has not been computed`);
    const bytes = readFileSync(path);
    const problem = checkShard(bytes, index, first, count, this.promptsPerImage, this.embedDim);
    if (problem) throw new Error(`${path}: ${problem}`);
    const payload = new Uint8Array(bytes.byteLength - HEADER_BYTES);
    payload.set(bytes.subarray(HEADER_BYTES));
    return fromFloat16Bits(new Uint16Array(payload.buffer), out, offset);
  }

  /** The shards in order, each decoded to float32. */
  *shards(): Generator<ShardData> {
    for (let i = 0; i < this.numShards; i++) {
      const { first, count } = this.shardRange(i);
      yield { index: i, first, count, data: this.readShard(i) };
    }
  }

  /** All embeddings, N×G×E float32 (row-major: image, prompt, channel). */
  readAll(): Float32Array {
    if (!this.complete) throw new Error(`${this.dir}: ${this.missingShards().length} of ${this.numShards} shards are missing`);
    const per = this.promptsPerImage * this.embedDim;
    const out = new Float32Array(this.numImages * per);
    for (let i = 0; i < this.numShards; i++) this.readShard(i, out, this.shardRange(i).first * per);
    return out;
  }

  private validShard(index: number): boolean {
    const path = this.shardPath(index);
    let size: number;
    try {
      size = statSync(path).size;
    } catch {
      return false;
    }
    const { first, count } = this.shardRange(index);
    if (size !== HEADER_BYTES + count * this.promptsPerImage * this.embedDim * 2) return false;
    const fd = openSync(path, 'r');
    const head = Buffer.alloc(HEADER_BYTES);
    try {
      if (readAllFrom(fd, head) !== HEADER_BYTES) return false;
    } finally {
      closeSync(fd);
    }
    return checkHeader(head, index, first, count, this.promptsPerImage, this.embedDim) === undefined;
  }

  private checkIndex(index: number): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.numShards) {
      throw new Error(`${this.dir}: shard ${index} is out of range (0..${this.numShards - 1})`);
    }
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

async function fingerprintOf(path: string, fingerprint: Fingerprint): Promise<string> {
  try {
    if (fingerprint === 'stat') {
      const s = await stat(path);
      if (!s.isFile()) throw new Error('not a file');
      return `${s.size}:${s.mtimeMs}`;
    }
    const h = createHash('sha256');
    for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
    return h.digest('hex');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new Error(`${path}: cannot read image file (${e.code ?? e.message})`);
  }
}

function readManifest(dir: string): StoreManifest {
  const path = join(dir, 'manifest.json');
  let m: StoreManifest;
  try {
    m = JSON.parse(readFileSync(path, 'utf8')) as StoreManifest;
  } catch (err) {
    throw new Error(`${path}: cannot read the embedding store manifest (${(err as Error).message})`);
  }
  if (m.format !== FORMAT || m.version !== VERSION) {
    throw new Error(`${path}: not a prompted-embedding store of version ${VERSION} (format ${String(m.format)}, version ${String(m.version)})`);
  }
  return m;
}

function removeTemporaries(dir: string): void {
  for (const name of readdirSync(dir)) if (name.includes('.tmp-')) unlinkSync(join(dir, name));
}

function makeHeader(index: number, first: number, count: number, G: number, E: number): Uint8Array {
  const head = Buffer.alloc(HEADER_BYTES);
  head.write(MAGIC, 0, 'latin1');
  [VERSION, index, first, count, G, E].forEach((v, i) => head.writeUInt32LE(v, 8 + 4 * i));
  return head;
}

function checkHeader(head: Buffer, index: number, first: number, count: number, G: number, E: number): string | undefined {
  if (head.toString('latin1', 0, 8) !== MAGIC) return 'not a shard file (bad magic)';
  const got = [0, 1, 2, 3, 4, 5].map((i) => head.readUInt32LE(8 + 4 * i));
  const want = [VERSION, index, first, count, G, E];
  const names = ['version', 'shard index', 'first image', 'image count', 'prompts per image', 'embedding width'];
  for (let i = 0; i < 6; i++) if (got[i] !== want[i]) return `shard header ${names[i]} is ${got[i]}, expected ${want[i]}`;
  return undefined;
}

function checkShard(bytes: Buffer, index: number, first: number, count: number, G: number, E: number): string | undefined {
  const expected = HEADER_BYTES + count * G * E * 2;
  if (bytes.byteLength !== expected) return `shard holds ${bytes.byteLength} bytes, expected ${expected}`;
  return checkHeader(bytes.subarray(0, HEADER_BYTES), index, first, count, G, E);
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let written = 0;
  while (written < bytes.length) written += writeSync(fd, bytes, written, bytes.length - written);
}

function readAllFrom(fd: number, buf: Buffer): number {
  let got = 0;
  while (got < buf.length) {
    const n = readSync(fd, buf, got, buf.length - got, got);
    if (n === 0) break;
    got += n;
  }
  return got;
}

function syncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Some platforms cannot fsync a folder; the rename is still atomic.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
