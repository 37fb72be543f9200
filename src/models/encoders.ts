/**
 * The two CLIP towers as the pipeline sees them. `ClipModel` (clip.ts) implements both; tests
 * and benchmarks may supply their own.
 */

/** CLIP's image tower, fed pixel tensors we prepared ourselves (e.g. red-circle prompted images). */
export interface ImageEncoder {
  /** Identifies the weights (model id or folder plus a content hash); part of cache keys. */
  readonly id: string;
  /** Square input size in pixels (224 for ViT-B/16). */
  readonly inputSize: number;
  /** Per-channel normalisation applied to RGB values scaled to [0, 1]. */
  readonly mean: readonly [number, number, number];
  readonly std: readonly [number, number, number];
  /** Embedding width E. */
  readonly embedDim: number;
  /**
   * Encodes `n` images given as normalised float32 NCHW pixels (n×3×S×S, S = inputSize).
   * Returns L2-normalised embeddings, n×E row-major.
   */
  encodeImages(pixels: Float32Array, n: number): Promise<Float32Array>;
}

/** CLIP's text tower. */
export interface TextEncoder {
  readonly id: string;
  readonly embedDim: number;
  /** L2-normalised embeddings of the texts, texts.length×E row-major. */
  encodeTexts(texts: readonly string[]): Promise<Float32Array>;
}
