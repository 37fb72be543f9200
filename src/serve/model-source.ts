/**
 * The model the explorer serves: an exported single-file model (`salf-cbm export`), used as is,
 * or a trained model directory, exported on the fly into a cache folder (reused while it is
 * newer than the model's files). Its description and classifier tensors are read once, for the
 * page's `GET /api/model` and `GET /model/head.bin`.
 */
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { Engine } from '../engine/session.js';
import { exportSalfCbm, type ExportInfo } from '../models/export.js';
import { ExportedSalfCbm } from '../models/exported.js';
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

const MODEL_FILES = ['config.json', 'concepts.json', 'classes.json', 'weights.safetensors'];

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
    const sources = [...MODEL_FILES.map((f) => join(path, f)), resolve(path, model.config.backbone.model)].filter((f) => existsSync(f));
    const newest = Math.max(...sources.map((f) => statSync(f).mtimeMs));
    if (existsSync(onnxPath) && statSync(onnxPath).mtimeMs >= newest) {
      notes.push(`using the export in ${onnxPath} (newer than the model)`);
    } else {
      try {
        mkdirSync(dir, { recursive: true });
      } catch (err) {
        throw new Error(`${dir}: cannot create the export folder (${(err as Error).message}); choose another with --export-dir`);
      }
      const res = await exportSalfCbm(model, onnxPath);
      notes.push(`exported the model to ${res.onnxPath} (${(res.bytes / 2 ** 20).toFixed(1)} MiB)`, ...res.warnings);
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
