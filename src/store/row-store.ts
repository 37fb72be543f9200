/**
 * The out-of-core store for everything computed per image (backbone features and logits,
 * prompted CLIP embeddings, pooled activations, evaluation results): rows (one per image) in
 * fixed-size shards, so that no file and no buffer grows with the number of images.
 *
 * Layout: `<root>/<kind>-<key>/` where `<key>` is a SHA-256 (first 32 hex digits) of everything
 * that determines the content (the caller's `identity`, the row count, the shard size and the
 * fields). Changing any of them selects another folder, so stale results are never reused.
 *
 * - `manifest.json`: format, version, kind, key, identity, rows, shard size, shard count, fields
 *   (name, per-row shape, dtype). Written atomically and identically by every worker.
 * - `shard-NNNNNN.rows`: magic `SALFROWS`, u32 LE version, u32 LE header length, the header
 *   (JSON: key, shard index, first row, row count, field byte lengths, per-shard `meta`, and the
 *   SHA-256 of meta and payload), zero padding to a 64-byte boundary, then each field's rows
 *   (row-major, little-endian float32 or IEEE float16 bits), one field after the other.
 *
 * A shard is written to a temporary sibling, fsynced and renamed, so a file under its final name
 * is always complete; workers on several machines may fill one store concurrently (each writes
 * only its own shards). A shard whose header or size is wrong counts as missing; one whose
 * checksum fails is never used: reading it throws an error naming the file (and `verify` removes
 * it so that it is recomputed). Checksums are verified the first time a process reads a shard
 * file (and again whenever its size or modification time changes).
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fstatSync, fsyncSync, mkdirSync, openSync, readFileSync, readSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { removeStaleTemporaries, writeFileAtomic } from '../data/atomic-write.js';
import { z } from 'zod';
import { parseJson } from '../data/parse-json.js';
import { checkJson } from '../data/json-schema.js';
import { fromFloat16Bits, toFloat16Bits } from './float16.js';

/** How a field's values are stored. */
export type StoreDtype = 'float16' | 'float32';

/** One per-row array of a store, e.g. features [G, D] per image. */
export interface FieldSpec {
  name: string;
  /** Shape of one row's values (their product is the row length). */
  shape: readonly number[];
  dtype: StoreDtype;
}

/** What determines a store: its kind, content identity, size and fields. */
export interface RowStoreSpec {
  /** Short name of what the rows are (`features`, `prompted`, `activations`, …); a folder-name prefix. */
  kind: string;
  /** Any JSON value naming everything that determines the rows (model, data, settings). */
  identity: unknown;
  numRows: number;
  /** Rows per shard. */
  shardSize: number;
  fields: readonly FieldSpec[];
}

/** The manifest written beside the shards. */
export interface RowStoreManifest extends RowStoreSpec {
  format: typeof FORMAT;
  version: number;
  key: string;
  numShards: number;
}

/** Values handed to {@link RowStore.writeShard}: float32, or float16 bits for float16 fields. */
export type FieldValues = Float32Array | Uint16Array;

/**
 * Test hook of {@link RowStore.writeShard}: runs once the shard's temporary file is written and
 * before its rename. Throwing from it fails the write as a disk error would (e.g. an error with
 * code `ENOSPC`); blocking in it leaves a temporary file behind for a kill.
 */
export type BeforeShardCommit = (shard: number, tmpPath: string) => void;

/** A shard read back. */
export interface ShardContent {
  shard: number;
  first: number;
  count: number;
  /** Per-shard metadata given to writeShard (e.g. rows that could not be computed). */
  meta: Record<string, unknown>;
  /** Each field's values as stored: Float32Array for float32, float16 bits (Uint16Array) for float16. */
  raw: Record<string, FieldValues>;
}

interface ShardHeader {
  key: string;
  shard: number;
  first: number;
  count: number;
  fields: { name: string; bytes: number }[];
  meta: Record<string, unknown>;
  sha256: string;
}

const count = z.number().int().nonnegative();
const manifestSchema: z.ZodType<RowStoreManifest> = z.looseObject({
  format: z.literal('salf-cbm.row-store'),
  version: z.number(),
  key: z.string(),
  kind: z.string(),
  identity: z.unknown(),
  numRows: count,
  shardSize: z.number().int().positive(),
  numShards: count,
  fields: z.array(z.looseObject({ name: z.string(), shape: z.array(count), dtype: z.enum(['float16', 'float32']) })),
});
const shardHeaderSchema: z.ZodType<ShardHeader> = z.looseObject({
  key: z.string(),
  shard: count,
  first: count,
  count,
  fields: z.array(z.looseObject({ name: z.string(), bytes: count })),
  meta: z.record(z.string(), z.unknown()),
  sha256: z.string(),
});

const FORMAT = 'salf-cbm.row-store';
const VERSION = 1;
const MAGIC = 'SALFROWS';
const ALIGN = 64;

/** Shard files whose checksum this process has verified, by path → size:mtime:ino. */
const verified = new Map<string, string>();

/** A folder of shards; see the module comment. */
export class RowStore {
  readonly numRows: number;
  readonly shardSize: number;
  readonly numShards: number;
  readonly fields: readonly FieldSpec[];
  private readonly rowLength: Map<string, number>;

  private constructor(
    readonly dir: string,
    readonly manifest: RowStoreManifest,
  ) {
    this.numRows = manifest.numRows;
    this.shardSize = manifest.shardSize;
    this.numShards = manifest.numShards;
    this.fields = manifest.fields;
    this.rowLength = new Map(manifest.fields.map((f) => [f.name, f.shape.reduce((a, b) => a * b, 1)]));
  }

  /** The folder `spec` maps to under `root` (nothing is created). */
  static folderFor(root: string, spec: RowStoreSpec): string {
    return join(resolve(root), `${spec.kind}-${storeKey(checkSpec(spec))}`);
  }

  /**
   * Opens (creating if needed) the store for `spec` under `root`. Shards already written, by
   * this or any other process, are kept; temporary files of dead writers are removed.
   */
  static open(root: string, spec: RowStoreSpec): RowStore {
    const clean = checkSpec(spec);
    const key = storeKey(clean);
    const dir = join(resolve(root), `${clean.kind}-${key}`);
    const manifestPath = join(dir, 'manifest.json');
    const manifest: RowStoreManifest = {
      format: FORMAT,
      version: VERSION,
      key,
      ...clean,
      numShards: Math.ceil(clean.numRows / clean.shardSize),
    };
    mkdirSync(dir, { recursive: true });
    if (existsSync(manifestPath)) {
      const found = readManifest(dir);
      if (found.key !== key)
        throw new Error(`${manifestPath}: the manifest's key ${found.key} does not match the inputs hashed to this folder (${key}); delete the folder`);
    } else {
      writeFileAtomic(manifestPath, JSON.stringify(manifest, null, 2) + '\n');
    }
    removeStaleTemporaries(dir);
    return new RowStore(dir, manifest);
  }

  /** Opens an existing store folder (for status reports and readers that have no inputs). */
  static openExisting(dir: string): RowStore {
    return new RowStore(resolve(dir), readManifest(dir));
  }

  /** Rows [first, first + count) of shard `s`. */
  shardRange(s: number): { first: number; count: number } {
    this.checkShard(s);
    const first = s * this.shardSize;
    return { first, count: Math.min(this.shardSize, this.numRows - first) };
  }

  /** The shard holding row `row`. */
  shardOf(row: number): number {
    if (!Number.isInteger(row) || row < 0 || row >= this.numRows) throw new Error(`${this.dir}: row ${row} is out of range (0..${this.numRows - 1})`);
    return Math.floor(row / this.shardSize);
  }

  /** The file of shard `s`. */
  shardPath(s: number): string {
    this.checkShard(s);
    return join(this.dir, `shard-${String(s).padStart(6, '0')}.rows`);
  }

  /** Values per row of `field`. */
  fieldLength(field: string): number {
    const n = this.rowLength.get(field);
    if (n === undefined) throw new Error(`${this.dir}: no field '${field}' (fields: ${this.fields.map((f) => f.name).join(', ')})`);
    return n;
  }

  /** The spec of `field`. */
  field(name: string): FieldSpec {
    const f = this.fields.find((x) => x.name === name);
    if (!f) throw new Error(`${this.dir}: no field '${name}' (fields: ${this.fields.map((x) => x.name).join(', ')})`);
    return f;
  }

  /** Whether shard `s` is stored completely (header and size; the checksum is checked on read). */
  isComplete(s: number): boolean {
    return this.readHeader(s) !== undefined;
  }

  /** Shards not yet stored, ascending. */
  missingShards(): number[] {
    const out: number[] = [];
    for (let s = 0; s < this.numShards; s++) if (!this.isComplete(s)) out.push(s);
    return out;
  }

  /** True when every shard is stored. */
  get complete(): boolean {
    return this.missingShards().length === 0;
  }

  /** Bytes of one shard of `count` rows, payload only. */
  payloadBytes(count: number): number {
    return this.fields.reduce((a, f) => a + count * this.fieldLength(f.name) * bytesPer(f.dtype), 0);
  }

  /**
   * Stores shard `s` atomically. `values` holds every field for the shard's rows (float32, or
   * float16 bits for a float16 field; float32 given for a float16 field is rounded). `meta` is
   * any JSON kept with the shard. On failure (a full disk) the temporary file is removed and the
   * error names the shard file.
   */
  writeShard(s: number, values: Record<string, FieldValues>, meta: Record<string, unknown> = {}, beforeCommit?: BeforeShardCommit): void {
    const { first, count } = this.shardRange(s);
    const path = this.shardPath(s);
    const parts: Uint8Array[] = [];
    for (const f of this.fields) {
      const v = values[f.name];
      const expected = count * this.fieldLength(f.name);
      if (!v) throw new Error(`${path}: field '${f.name}' is missing from the shard's values`);
      if (v.length !== expected)
        throw new Error(`${path}: field '${f.name}' has ${v.length} values, expected ${expected} (${count} rows × [${f.shape.join(', ')}])`);
      parts.push(encodeField(f, v, path));
    }
    for (const name of Object.keys(values)) this.field(name);
    const hash = createHash('sha256');
    for (const p of parts) hash.update(p);
    hash.update(canonicalJson(meta));
    const header: ShardHeader = {
      key: this.manifest.key,
      shard: s,
      first,
      count,
      fields: this.fields.map((f, i) => ({ name: f.name, bytes: parts[i]!.byteLength })),
      meta,
      sha256: hash.digest('hex'),
    };
    const head = encodeHeader(header);
    const tmp = `${path}.tmp-${hostname()}-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
    let fd: number | undefined;
    try {
      fd = openSync(tmp, 'w');
      writeAll(fd, head);
      for (const p of parts) writeAll(fd, p);
      fsyncSync(fd);
      closeSync(fd);
      fd = undefined;
      beforeCommit?.(s, tmp);
      renameSync(tmp, path);
    } catch (err) {
      if (fd !== undefined) closeSync(fd);
      try {
        unlinkSync(tmp);
      } catch {
        // already gone
      }
      const e = err as NodeJS.ErrnoException;
      throw new Error(`${path}: cannot write the shard (${e.code ?? e.message})`);
    }
    syncDir(this.dir);
  }

  /** Shard `s` as stored, checksum verified; an error naming the file when it is missing or corrupt. */
  readShard(s: number): ShardContent {
    const path = this.shardPath(s);
    let bytes: Buffer;
    try {
      bytes = readFileSync(path);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw new Error(`${path}: shard ${s} of ${this.dir} is not stored (${e.code ?? e.message})`);
    }
    const { header, payloadAt } = this.parse(bytes, s, path);
    const id = fileStamp(path);
    if (verified.get(path) !== id) {
      const hash = createHash('sha256').update(bytes.subarray(payloadAt)).update(canonicalJson(header.meta)).digest('hex');
      if (hash !== header.sha256) throw corrupt(path, 'checksum mismatch');
      verified.set(path, id);
    }
    const raw: Record<string, FieldValues> = {};
    let at = payloadAt;
    for (const f of this.fields) {
      const n = header.count * this.fieldLength(f.name);
      raw[f.name] = decodeRaw(f.dtype, bytes, at, n);
      at += n * bytesPer(f.dtype);
    }
    return { shard: s, first: header.first, count: header.count, meta: header.meta, raw };
  }

  /** Shard `s`'s `meta`, checksum verified (a whole read the first time this process sees the file). */
  readMeta(s: number): Record<string, unknown> {
    const path = this.shardPath(s);
    const head = verified.get(path) === fileStampOrNone(path) ? this.readHeader(s) : undefined;
    return head ? head.header.meta : this.readShard(s).meta;
  }

  /** Shard `s`'s field as float32 (float16 decoded). */
  readField(s: number, field: string): Float32Array {
    return asFloat32(this.readShard(s).raw[field]!);
  }

  /**
   * Selected rows of one field, in the order given, as stored (float32, or float16 bits):
   * positioned reads of just those rows. Each shard touched is checksum-verified once per
   * process (a whole read the first time).
   */
  readRows(field: string, rows: readonly number[]): FieldValues {
    const f = this.field(field);
    const len = this.fieldLength(field);
    const bpv = bytesPer(f.dtype);
    const out = f.dtype === 'float16' ? new Uint16Array(rows.length * len) : new Float32Array(rows.length * len);
    const outBytes = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
    let fd: number | undefined;
    let open = -1;
    let fieldAt = 0;
    try {
      rows.forEach((row, i) => {
        const s = this.shardOf(row);
        if (s !== open) {
          if (fd !== undefined) closeSync(fd);
          fd = undefined;
          const path = this.shardPath(s);
          if (verified.get(path) !== fileStampOrNone(path)) this.readShard(s);
          const head = this.readHeader(s);
          if (!head) throw new Error(`${path}: shard ${s} is not stored`);
          fd = openSync(path, 'r');
          open = s;
          fieldAt = head.payloadAt;
          for (const g of this.fields) {
            if (g.name === field) break;
            fieldAt += head.header.count * this.fieldLength(g.name) * bytesPer(g.dtype);
          }
        }
        const within = row - s * this.shardSize;
        const want = len * bpv;
        const got = readFully(fd!, outBytes, i * want, want, fieldAt + within * want);
        if (got !== want) throw corrupt(this.shardPath(s), 'file is shorter than its header says');
      });
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
    return out;
  }

  /**
   * Checks every stored shard's checksum; corrupt ones are deleted (so they count as missing and
   * are recomputed) and returned.
   */
  verify(): { shard: number; path: string; problem: string }[] {
    const bad: { shard: number; path: string; problem: string }[] = [];
    for (let s = 0; s < this.numShards; s++) {
      if (!this.isComplete(s)) continue;
      const path = this.shardPath(s);
      verified.delete(path);
      try {
        this.readShard(s);
      } catch (err) {
        bad.push({ shard: s, path, problem: (err as Error).message });
        unlinkSync(path);
      }
    }
    return bad;
  }

  /** Total bytes of the stored shard files. */
  storedBytes(): number {
    let n = 0;
    for (let s = 0; s < this.numShards; s++) {
      try {
        n += statSync(this.shardPath(s)).size;
      } catch {
        // not stored
      }
    }
    return n;
  }

  private readHeader(s: number): { header: ShardHeader; payloadAt: number } | undefined {
    const path = this.shardPath(s);
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch {
      return undefined;
    }
    try {
      const fixed = Buffer.alloc(16);
      if (readFully(fd, fixed, 0, 16, 0) !== 16) return undefined;
      if (fixed.toString('latin1', 0, 8) !== MAGIC || fixed.readUInt32LE(8) !== VERSION) return undefined;
      const len = fixed.readUInt32LE(12);
      if (len > 1 << 24) return undefined;
      const head = Buffer.alloc(len);
      if (readFully(fd, head, 0, len, 16) !== len) return undefined;
      const size = fstatSync(fd).size;
      const parsed = this.check(head, s);
      if (!parsed) return undefined;
      const payloadAt = align(16 + len);
      if (size !== payloadAt + this.payloadBytes(parsed.count)) return undefined;
      return { header: parsed, payloadAt };
    } finally {
      closeSync(fd);
    }
  }

  private parse(bytes: Buffer, s: number, path: string): { header: ShardHeader; payloadAt: number } {
    if (bytes.length < 16 || bytes.toString('latin1', 0, 8) !== MAGIC) throw corrupt(path, 'not a shard file (bad magic)');
    if (bytes.readUInt32LE(8) !== VERSION) throw corrupt(path, `shard format version ${bytes.readUInt32LE(8)}, expected ${VERSION}`);
    const len = bytes.readUInt32LE(12);
    const header = 16 + len <= bytes.length ? this.check(bytes.subarray(16, 16 + len), s) : undefined;
    if (!header) throw corrupt(path, 'unreadable or mismatched shard header');
    const payloadAt = align(16 + len);
    if (bytes.length !== payloadAt + this.payloadBytes(header.count))
      throw corrupt(path, `holds ${bytes.length} bytes, expected ${payloadAt + this.payloadBytes(header.count)}`);
    return { header, payloadAt };
  }

  /** The header if it parses and agrees with the manifest for shard `s`. */
  private check(head: Buffer, s: number): ShardHeader | undefined {
    let json: unknown;
    try {
      json = JSON.parse(head.toString('utf8'));
    } catch {
      return undefined;
    }
    const parsed = shardHeaderSchema.safeParse(json);
    if (!parsed.success) return undefined;
    const h = parsed.data;
    const { first, count } = this.shardRange(s);
    if (h.key !== this.manifest.key || h.shard !== s || h.first !== first || h.count !== count) return undefined;
    if (!Array.isArray(h.fields) || h.fields.length !== this.fields.length) return undefined;
    return h;
  }

  private checkShard(s: number): void {
    if (!Number.isInteger(s) || s < 0 || s >= this.numShards) throw new Error(`${this.dir}: shard ${s} is out of range (0..${this.numShards - 1})`);
  }
}

/** float32 values of stored field values (float16 bits decoded; float32 returned as is). */
export function asFloat32(v: FieldValues): Float32Array {
  return v instanceof Float32Array ? v : fromFloat16Bits(v);
}

function bytesPer(dtype: StoreDtype): number {
  return dtype === 'float16' ? 2 : 4;
}

function align(n: number): number {
  return Math.ceil(n / ALIGN) * ALIGN;
}

function checkSpec(spec: RowStoreSpec): RowStoreSpec {
  if (!/^[a-z0-9][a-z0-9_.-]*$/i.test(spec.kind)) throw new Error(`row store: kind '${spec.kind}' must be a short name of letters, digits, '-', '_' or '.'`);
  if (!Number.isInteger(spec.numRows) || spec.numRows < 1) throw new Error(`row store ${spec.kind}: numRows must be a positive integer, got ${spec.numRows}`);
  if (!Number.isInteger(spec.shardSize) || spec.shardSize < 1)
    throw new Error(`row store ${spec.kind}: shardSize must be a positive integer, got ${spec.shardSize}`);
  if (spec.fields.length === 0) throw new Error(`row store ${spec.kind}: no fields`);
  const names = new Set<string>();
  const fields = spec.fields.map((f) => {
    if (names.has(f.name)) throw new Error(`row store ${spec.kind}: field '${f.name}' is given twice`);
    names.add(f.name);
    if (f.dtype !== 'float16' && f.dtype !== 'float32')
      throw new Error(`row store ${spec.kind}: field '${f.name}' has dtype '${String(f.dtype)}' (float16 or float32)`);
    for (const d of f.shape) if (!Number.isInteger(d) || d < 1) throw new Error(`row store ${spec.kind}: field '${f.name}' has shape [${f.shape.join(', ')}]`);
    return { name: f.name, shape: [...f.shape], dtype: f.dtype };
  });
  // Canonical key order, so that every worker writes the same manifest bytes.
  return { kind: spec.kind, identity: JSON.parse(canonicalJson(spec.identity ?? null)) as unknown, numRows: spec.numRows, shardSize: spec.shardSize, fields };
}

function storeKey(spec: RowStoreSpec): string {
  return createHash('sha256')
    .update(canonicalJson({ format: FORMAT, version: VERSION, ...spec }))
    .digest('hex')
    .slice(0, 32);
}

/** JSON with object keys sorted, so equal values hash equally. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

function readManifest(dir: string): RowStoreManifest {
  const path = join(dir, 'manifest.json');
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new Error(`${path}: cannot read the store manifest (${e.code ?? e.message})`);
  }
  const m = parseJson(text, path) as { format?: unknown; version?: unknown } | null;
  if (m?.format !== FORMAT || m.version !== VERSION)
    throw new Error(`${path}: not a salf-cbm row store of version ${VERSION} (format ${String(m?.format)}, version ${String(m?.version)})`);
  return checkJson(m, manifestSchema, path, 'row store manifest');
}

function encodeField(f: FieldSpec, v: FieldValues, path: string): Uint8Array {
  if (f.dtype === 'float32') {
    if (!(v instanceof Float32Array)) throw new Error(`${path}: field '${f.name}' is float32 but float16 bits were given`);
    return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  }
  const bits = v instanceof Float32Array ? toFloat16Bits(v) : v;
  return new Uint8Array(bits.buffer, bits.byteOffset, bits.byteLength);
}

function decodeRaw(dtype: StoreDtype, bytes: Buffer, at: number, n: number): FieldValues {
  // Copy into a fresh, aligned buffer (the file buffer's offset need not be aligned).
  const out = dtype === 'float16' ? new Uint16Array(n) : new Float32Array(n);
  new Uint8Array(out.buffer).set(bytes.subarray(at, at + n * bytesPer(dtype)));
  return out;
}

function encodeHeader(h: ShardHeader): Uint8Array {
  const json = Buffer.from(JSON.stringify(h), 'utf8');
  const total = align(16 + json.length);
  const out = Buffer.alloc(total);
  out.write(MAGIC, 0, 'latin1');
  out.writeUInt32LE(VERSION, 8);
  out.writeUInt32LE(json.length, 12);
  json.copy(out, 16);
  return out;
}

function corrupt(path: string, problem: string): Error {
  return new Error(
    `${path}: corrupt shard (${problem}); it is never used: run \`salf-cbm status --verify\` on the cache (or delete the file) to have it recomputed`,
  );
}

function fileStamp(path: string): string {
  const st = statSync(path);
  return `${st.size}:${st.mtimeMs}:${st.ino}`;
}

function fileStampOrNone(path: string): string | undefined {
  try {
    return fileStamp(path);
  } catch {
    return undefined;
  }
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let written = 0;
  while (written < bytes.length) written += writeSync(fd, bytes, written, bytes.length - written);
}

function readFully(fd: number, buf: Uint8Array, offset: number, length: number, position: number): number {
  let got = 0;
  while (got < length) {
    const n = readSync(fd, buf, offset + got, length - got, position + got);
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
