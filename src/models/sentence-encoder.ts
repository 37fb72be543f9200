/**
 * A sentence-embedding model (transformers.js), the optional second text encoder of step 1b's
 * text similarity (concepts/text-similarity.ts; LF-CBM uses all-mpnet-base-v2).
 */
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { pipeline } from '@huggingface/transformers';
import type { Device, ModelResource } from '../engine/session.js';
import type { TextEncoder } from './encoders.js';

/** Options of {@link SentenceEncoder.load}. */
export interface SentenceLoadOptions {
  device?: Device;
  /** `mean` (sentence-transformers' all-mpnet-base-v2, the default) or `cls` pooling. */
  pooling?: 'mean' | 'cls';
  /** Texts per model run (default 64). */
  batch?: number;
}

type FeatureExtractor = ((texts: string[], options: { pooling: 'mean' | 'cls'; normalize: boolean }) => Promise<{ data: Float32Array; dims: number[] }>) & {
  dispose(): Promise<unknown>;
};

/**
 * A sentence-embedding model through @huggingface/transformers' feature-extraction pipeline:
 * a local folder (config.json, tokenizer files, onnx/model.onnx; works offline) or a hub id in
 * transformers.js' ONNX form, e.g. `Xenova/all-mpnet-base-v2` (needs the hub or its cache).
 * Embeddings are pooled and L2-normalised, like sentence-transformers' all-mpnet-base-v2.
 */
export class SentenceEncoder implements TextEncoder, ModelResource {
  private constructor(
    readonly id: string,
    readonly embedDim: number,
    private readonly extractor: FeatureExtractor,
    private readonly pooling: 'mean' | 'cls',
    private readonly batch: number,
  ) {}

  /** Loads the model; `source` is a folder or a hub id. */
  static async load(source: string, options: SentenceLoadOptions = {}): Promise<SentenceEncoder> {
    const isFolder = existsSync(source) || source.startsWith('.') || source.startsWith('/');
    const path = isFolder ? resolve(source) : source;
    if (isFolder && !(existsSync(path) && statSync(path).isDirectory())) {
      throw new Error(`sentence model ${path}: not a folder (expected config.json, tokenizer.json and onnx/model.onnx)`);
    }
    let extractor: FeatureExtractor;
    try {
      extractor = (await pipeline('feature-extraction', path, {
        local_files_only: isFolder,
        dtype: 'fp32',
        device: options.device ?? 'cpu',
      })) as unknown as FeatureExtractor;
    } catch (err) {
      const hint = isFolder ? '' : ' (a hub id needs the hub or its cache; a local folder works offline)';
      throw new Error(`sentence model ${path}: could not be loaded by transformers.js${hint}: ${(err as Error).message}`);
    }
    const pooling = options.pooling ?? 'mean';
    const probe = await extractor(['a'], { pooling, normalize: true });
    const dim = probe.dims[probe.dims.length - 1]!;
    return new SentenceEncoder(`sentence:${path}`, dim, extractor, pooling, Math.max(1, options.batch ?? 64));
  }

  /** Unit-length sentence embeddings, texts.length×embedDim. */
  async encodeTexts(texts: readonly string[]): Promise<Float32Array> {
    const out = new Float32Array(texts.length * this.embedDim);
    for (let i = 0; i < texts.length; i += this.batch) {
      const chunk = texts.slice(i, i + this.batch);
      const t = await this.extractor(chunk, { pooling: this.pooling, normalize: true });
      if (t.data.length !== chunk.length * this.embedDim)
        throw new Error(`${this.id}: ${t.data.length} values for ${chunk.length} texts of width ${this.embedDim}`);
      out.set(t.data, i * this.embedDim);
    }
    return out;
  }

  /** Releases the model's session. */
  async dispose(): Promise<void> {
    await this.extractor.dispose();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}
