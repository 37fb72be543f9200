/**
 * Where a backbone's ONNX file comes from: a local file, a local model folder, or a Hugging Face
 * hub id (SPEC "Offline world": hub ids online, local folders always), resolved the way CLIP is
 * (src/models/clip.ts) through @huggingface/transformers, so its `env` settings hold:
 * `env.localModelPath` and `env.cacheDir` are looked in, `env.allowRemoteModels = false` (or
 * HF_HUB_OFFLINE) forbids downloads, and a download lands in transformers.js' cache.
 *
 * A model folder (local or in the cache) holds `onnx/model.onnx` as transformers.js lays it out
 * (or `model.onnx` at its top), plus `config.json` for a download.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { AutoModel, env as hfEnv } from '@huggingface/transformers';
import { resolveClipSource } from './clip.js';

/** The ONNX files a backbone folder may hold, in the order they are looked for. */
export const BACKBONE_FOLDER_FILES = ['onnx/model.onnx', 'model.onnx'] as const;

/** Options of {@link resolveBackboneModel}. */
export interface BackboneSourceOptions {
  /** Hub revision; `main` by default. */
  revision?: string;
  /** transformers.js' cache folder; `env.cacheDir` by default. */
  cacheDir?: string;
}

function modelInFolder(dir: string): string | undefined {
  for (const f of BACKBONE_FOLDER_FILES) if (existsSync(join(dir, f))) return join(dir, f);
  return undefined;
}

const offline = (): boolean =>
  ['HF_HUB_OFFLINE', 'TRANSFORMERS_OFFLINE'].some((k) => ['1', 'true', 'yes', 'on'].includes((process.env[k] ?? '').toLowerCase()));

/**
 * The local path of the backbone ONNX file `source` names: the file itself, the model file of a
 * folder, or that of a hub id, found in `env.localModelPath` or the cache, else downloaded into
 * the cache by transformers.js (online only). Errors name the source and the places looked in.
 */
export async function resolveBackboneModel(source: string, options: BackboneSourceOptions = {}): Promise<string> {
  if (existsSync(source) && statSync(source).isFile()) return source;
  const resolved = resolveClipSource(source);
  if (resolved.kind === 'folder') {
    if (!existsSync(resolved.path)) throw new Error(`backbone ${source}: no such file or folder (give an .onnx file, a model folder or a Hugging Face hub id)`);
    const found = modelInFolder(resolved.path);
    if (!found) throw new Error(`backbone folder ${resolved.path} holds none of ${BACKBONE_FOLDER_FILES.join(', ')}`);
    return found;
  }
  const id = resolved.modelId;
  const revision = options.revision ?? 'main';
  const cacheDir = options.cacheDir ?? hfEnv.cacheDir ?? undefined;
  const places = [
    ...(hfEnv.allowLocalModels && hfEnv.localModelPath ? [join(hfEnv.localModelPath, id)] : []),
    ...(cacheDir ? [revision === 'main' ? join(cacheDir, id) : join(cacheDir, id, revision)] : []),
  ];
  for (const dir of places) {
    const found = modelInFolder(dir);
    if (found) return found;
  }
  const looked = places.length ? ` (looked in ${places.join(', ')})` : '';
  if (!hfEnv.allowRemoteModels || offline()) {
    throw new Error(
      `backbone "${id}": not found locally${looked} and remote models are disabled; download it elsewhere and put its files in one of those folders (${BACKBONE_FOLDER_FILES.join(' or ')}), or pass a local .onnx file`,
    );
  }
  // transformers.js downloads config.json and onnx/model.onnx into its cache; the session it
  // opens on the way is not the one used (the backbone's derived model is), so it is released.
  try {
    const model = await AutoModel.from_pretrained(id, { revision, dtype: 'fp32', ...(cacheDir ? { cache_dir: cacheDir } : {}) });
    await model.dispose();
  } catch (err) {
    throw new Error(`backbone "${id}": could not be fetched from the hub${looked}: ${(err as Error).message}`);
  }
  for (const dir of places) {
    const found = modelInFolder(dir);
    if (found) return found;
  }
  throw new Error(`backbone "${id}": transformers.js loaded it but no ${BACKBONE_FOLDER_FILES[0]} is in its cache${looked}`);
}
