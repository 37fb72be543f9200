/**
 * Running an image model over n images: all at once, or in chunks of the model's fixed batch
 * size (the last chunk zero-padded), collecting each named output's first values per image.
 */
import { dataF32, f32, type ort } from './session.js';

/**
 * Runs `session` on `n` normalised NCHW images (n×3×S×S) fed to `inputName`, and returns, for
 * each entry of `outputs` (name → values per image), an n×values array.
 */
export async function runImageBatches(
  session: ort.InferenceSession,
  inputName: string,
  pixels: Float32Array,
  n: number,
  size: number,
  fixedBatch: number | undefined,
  outputs: Record<string, number>,
): Promise<Record<string, Float32Array>> {
  const per = 3 * size * size;
  const result: Record<string, Float32Array> = {};
  for (const [name, k] of Object.entries(outputs)) result[name] = new Float32Array(n * k);
  const chunk = fixedBatch ?? Math.max(n, 1);
  for (let start = 0; start < n; start += chunk) {
    const m = Math.min(chunk, n - start);
    let x = pixels.subarray(start * per, (start + m) * per);
    if (fixedBatch !== undefined && m < fixedBatch) {
      const padded = new Float32Array(fixedBatch * per);
      padded.set(x);
      x = padded;
    }
    const out = await session.run({ [inputName]: f32(x, [x.length / per, 3, size, size]) });
    for (const [name, k] of Object.entries(outputs)) {
      result[name]!.set(dataF32(out[name]!, name).subarray(0, m * k), start * k);
    }
  }
  return result;
}
