/**
 * The model the explorer serves: an exported single-file model (`salf-cbm export`), used as is,
 * or a trained model directory, exported on the fly into a cache folder. The export is reused
 * while the content hashes of the model folder's manifest (which holds every model file's SHA-256,
 * checked on load), of the backbone and of the export itself are those recorded when it was made (`source.json` beside it); modification times are not trusted, as `cp -p` and
 * `rsync -a` carry old ones over new contents. Its description and classifier tensors are read
 * once, for the page's `GET /api/model` and `GET /model/head.bin`.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { writeJsonAtomic } from '../data/atomic-write.js';
import { Engine } from '../engine/session.js';
import { exportSalfCbm, sidecarPath, type ExportInfo } from '../models/export.js';
import { ExportedSalfCbm } from '../models/exported.js';
import { MANIFEST_FILE } from '../models/model-folder.js';
import { SalfCbm } from '../models/salf-cbm.js';
import { encodeHead } from '../web/core/head.js';

/** A model ready to serve. */
export interface ServedModel {
  /** A short display name. */
  name: string;
  /** The exported ONNX file the page downloads. */
  onnxPath: string;
  bytes: number;
  info: ExportInfo;
  /** The classifier tensors in the page's layout (`web/core/head.ts`). */
  head: Uint8Array;
  /** What was done to get here (e.g. "exported … to …"), for the console. */
  notes: string[];
}

/** Options of {@link openServedModel}. */
export interface ServedModelOptions {
  /** Where a model directory is exported to (default `<model-dir>/export`). */
  exportDir?: string;
}

/** The record beside an export of what it made from and what it wrote: file path (relative to its folder) → SHA-256 of its bytes. */
interface ExportStamp {
  sources: Record<string, string>;
  exported: Record<string, string>;
}

/** SHA-256 (hex) of a file's bytes, streamed. */
async function fileSha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** SHA-256 of each file, keyed by its path relative to `base`. */
async function hashFiles(base: string, paths: readonly string[]): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const p of paths) out[relative(base, p)] = await fileSha256(p);
  return out;
}

function sameHashes(a: Record<string, string> | undefined, b: Record<string, string>): boolean {
  if (a === undefined || typeof a !== 'object') return false;
  const keys = Object.keys(b);
  return Object.keys(a).length === keys.length && keys.every((k) => a[k] === b[k]);
}

/** Why the export at `onnxPath` cannot be reused for `sources`, or undefined when it can. */
async function staleExport(stampPath: string, onnxPath: string, sources: Record<string, string>): Promise<string | undefined> {
  const exportFiles = [onnxPath, sidecarPath(onnxPath)];
  if (!exportFiles.every((f) => existsSync(f))) return 'no export yet';
  if (!existsSync(stampPath)) return `no ${basename(stampPath)} recording what it was made from`;
  let stamp: ExportStamp;
  try {
    stamp = JSON.parse(readFileSync(stampPath, 'utf8')) as ExportStamp;
  } catch {
    return `${basename(stampPath)} is unreadable`;
  }
  if (!sameHashes(stamp?.sources, sources)) return 'the model files changed since';
  if (!sameHashes(stamp.exported, await hashFiles(dirname(onnxPath), exportFiles))) return 'the exported files changed since';
  return undefined;
}

/** Opens a model directory (exporting it when needed) or an exported `.onnx` for serving. */
export async function openServedModel(path: string, options: ServedModelOptions = {}): Promise<ServedModel> {
  if (!existsSync(path)) throw new Error(`${path}: model not found (give a trained model directory or an exported .onnx file)`);
  const notes: string[] = [];
  let onnxPath: string;
  let name: string;
  if (statSync(path).isDirectory()) {
    if (!existsSync(join(path, 'config.json'))) throw new Error(`${path}: not a SALF-CBM model directory (no config.json) and not an .onnx file`);
    name = basename(resolve(path));
    const dir = options.exportDir ?? join(path, 'export');
    onnxPath = join(dir, 'model.onnx');
    const model = SalfCbm.load(path, new Engine());
    // Loading checked every model file against manifest.json's SHA-256s, so the manifest's own
    // hash stands for them all; the backbone, outside the folder's manifest, is hashed itself.
    const sourceFiles = [join(path, MANIFEST_FILE), resolve(path, model.config.backbone.model)].filter((f) => existsSync(f));
    const sources = await hashFiles(path, sourceFiles);
    const stampPath = join(dir, 'source.json');
    const stale = await staleExport(stampPath, onnxPath, sources);
    if (stale === undefined) {
      notes.push(`using the export in ${onnxPath} (made from these model files, by content hash)`);
    } else {
      try {
        mkdirSync(dir, { recursive: true });
      } catch (err) {
        throw new Error(`${dir}: cannot create the export folder (${(err as Error).message}); choose another with --export-dir`);
      }
      const res = await exportSalfCbm(model, onnxPath);
      const stamp: ExportStamp = { sources, exported: await hashFiles(dir, [res.onnxPath, res.sidecarPath]) };
      writeJsonAtomic(stampPath, stamp);
      notes.push(`exported the model to ${res.onnxPath} (${(res.bytes / 2 ** 20).toFixed(1)} MiB; ${stale})`, ...res.warnings);
    }
  } else {
    onnxPath = path;
    name = basename(path).replace(/\.onnx$/i, '');
  }
  const engine = new Engine();
  try {
    const exported = await ExportedSalfCbm.load(onnxPath, engine);
    const { info } = exported;
    const head = encodeHead(exported.head, info.concepts.length, info.classes.length);
    await exported.dispose();
    return { name, onnxPath: resolve(onnxPath), bytes: statSync(onnxPath).size, info, head, notes };
  } finally {
    await engine.dispose();
  }
}
