/**
 * What the explorer's server tells the page about the model it serves (`GET /api/model`), and
 * the page's view of the model built from it: the export's own description plus the classifier
 * tensors, in the shape the library's explanation functions take.
 */
import type { ExportInfo } from '../../models/export.js';
import type { ClassifierWeights } from '../../models/salf-head.js';
import type { Pooling } from '../../models/salf-head.js';
import type { BackboneConfig } from '../../models/backbone.js';
import { decodeHead } from './head.js';

/** The JSON of `GET /api/model`. */
export interface ExplorerManifest {
  /** A short name for the page title (the model's folder or file name). */
  name: string;
  /** The export's description (the JSON sidecar). */
  info: ExportInfo;
  /** Where the page fetches the ONNX model, and its size in bytes. */
  model: { url: string; bytes: number };
  /** Where the page fetches the classifier tensors (`head.ts` layout). */
  head: { url: string; bytes: number };
  /** Whether the server was given an image folder (`GET /api/images`). */
  images: boolean;
  /** Largest image file the server sends, in bytes. */
  maxImageBytes: number;
}

/** One entry of `GET /api/images`. */
export interface ImageEntry {
  /** Path relative to the folder, `/`-separated. */
  path: string;
  bytes: number;
}

/** The JSON of `GET /api/images`. */
export interface ImageList {
  images: ImageEntry[];
  /** True when the listing was cut at the server's limit. */
  truncated: boolean;
  /** Entries the server could not read while listing (skipped). */
  skipped: number;
}

/** The model as the page uses it (what the library's explanation functions read). */
export interface ExplorerModel {
  readonly concepts: readonly string[];
  readonly classes: readonly string[];
  readonly grid: readonly [number, number];
  readonly pooling: Pooling;
  readonly head: ClassifierWeights;
  readonly preprocess: BackboneConfig['preprocess'];
  /** The ONNX input's name, and its fixed batch size if it has one. */
  readonly inputName: string;
  readonly fixedBatch: number | undefined;
}

const POOLING_NAMES: readonly string[] = ['mean', 'max', 'softmax'];

/** Checks a manifest and joins it with the classifier bytes; errors say what is wrong. */
export function explorerModel(manifest: ExplorerManifest, headBytes: ArrayBuffer | Uint8Array): ExplorerModel {
  const { info } = manifest;
  if (info?.format !== 'salf-cbm-onnx') throw new Error(`the server's model description is not a SALF-CBM export (format ${JSON.stringify(info?.format)})`);
  if (!Array.isArray(info.concepts) || !Array.isArray(info.classes) || info.concepts.length === 0 || info.classes.length === 0) {
    throw new Error('the model description lists no concepts or no classes');
  }
  const [gh, gw] = info.grid ?? [];
  if (!(Number.isInteger(gh) && Number.isInteger(gw) && gh! > 0 && gw! > 0))
    throw new Error(`the model description has an invalid grid ${JSON.stringify(info.grid)}`);
  if (!POOLING_NAMES.includes(info.pooling)) throw new Error(`the model description has an unknown pooling ${JSON.stringify(info.pooling)}`);
  const size = info.preprocess?.resize?.size;
  if (!(Number.isInteger(size) && size > 0)) throw new Error('the model description has no input size');
  const b0 = info.input.shape[0];
  return {
    concepts: info.concepts,
    classes: info.classes,
    grid: [gh!, gw!],
    pooling: info.pooling,
    head: decodeHead(headBytes, info.concepts.length, info.classes.length),
    preprocess: info.preprocess,
    inputName: info.input.name,
    fixedBatch: typeof b0 === 'number' && b0 > 0 ? b0 : undefined,
  };
}
