/** An 8-bit RGB image, interleaved (H×W×3, row-major). */
export interface RgbImage {
  readonly data: Uint8Array;
  readonly width: number;
  readonly height: number;
}

/** How an image is brought to a model's square input. */
export interface ResizeSpec {
  /** Side of the square model input, in pixels. */
  size: number;
  /**
   * `center`: resize the shorter side to `resize` (default `size`) keeping aspect, then crop
   * the centre size×size (CLIP, torchvision). `stretch`: resize straight to size×size.
   */
  mode: 'center' | 'stretch';
  /** Shorter side before the centre crop (e.g. 256 for a 224 ImageNet crop); `center` only. */
  resize?: number;
}
