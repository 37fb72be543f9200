import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ClipModel } from '../../src/models/clip.js';
import { writeHalfIoModel } from '../helpers/half-io.js';
import { tempDir } from '../helpers/paths.js';
import { writeTinyClip } from '../helpers/tiny-clip.js';

// Random-weight tiny CLIP: plumbing only.
let root: string;
let dir: string;
before(async () => {
  root = tempDir('salf-clip-fp16-');
  dir = join(root, 'clip');
  await writeTinyClip(dir, { inputSize: 32, embedDim: 8 });
});
after(() => rmSync(root, { recursive: true, force: true }));

test('CLIP precision fp16: loads the _fp16 files, feeds and reads float16, and is another model id', async () => {
  await assert.rejects(ClipModel.load(dir, { precision: 'fp16' }), (e: Error) =>
    /missing onnx\/vision_model_fp16\.onnx, onnx\/text_model_fp16\.onnx/.test(e.message),
  );
  writeHalfIoModel(join(dir, 'onnx', 'vision_model.onnx'), join(dir, 'onnx', 'vision_model_fp16.onnx'));
  writeHalfIoModel(join(dir, 'onnx', 'text_model.onnx'), join(dir, 'onnx', 'text_model_fp16.onnx'));
  const full = await ClipModel.load(dir);
  const half = await ClipModel.load(dir, { precision: 'fp16' });
  try {
    assert.notEqual(half.id, full.id);
    assert.match(half.id, /#fp16$/);
    const S = full.inputSize;
    const n = 3;
    const pixels = Float32Array.from({ length: n * 3 * S * S }, (_, i) => Math.sin(i * 0.37));
    const a = await full.encodeImages(pixels, n);
    const b = await half.encodeImages(pixels, n);
    assert.equal(b.length, a.length);
    let maxDiff = 0;
    let differs = false;
    for (let i = 0; i < a.length; i++) {
      maxDiff = Math.max(maxDiff, Math.abs(a[i]! - b[i]!));
      if (a[i] !== b[i]) differs = true;
    }
    assert.ok(maxDiff < 5e-3, `fp16 I/O embeddings within float16 rounding (max diff ${maxDiff})`);
    assert.ok(differs, 'the float16 path was taken (values rounded)');
    const ta = await full.encodeTexts(['a red circle', 'stripes']);
    const tb = await half.encodeTexts(['a red circle', 'stripes']);
    for (let i = 0; i < ta.length; i++) assert.ok(Math.abs(ta[i]! - tb[i]!) < 5e-3);
  } finally {
    await Promise.all([full.dispose(), half.dispose()]);
  }
});
