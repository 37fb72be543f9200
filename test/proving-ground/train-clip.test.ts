/**
 * The CLIP-like model's trainer (tools/proving_ground/train_models.py --only clip) with a wider
 * vision trunk (`--clip-width`, `--clip-channels`) is deterministic: a scaled-down run (a
 * 64-image world, a few steps) twice gives byte-identical ONNX exports, the config records the
 * trunk's width, and the project's ClipModel loads the folder and embeds images and texts.
 *
 * Needs the development venv (tools/requirements.txt); skipped with the command that makes it
 * when absent outside CI, as test/proving-ground/train-broad.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ClipModel } from '../../src/models/clip.js';
import { generateWorld } from '../../src/proving-ground/dataset.js';
import { tempDir } from '../helpers/paths.js';
import { trainerVenv } from '../helpers/required-in-ci.js';

const { python, trainer, skip } = trainerVenv();

const sha = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

test('a wider CLIP-like model trains deterministically and exports the CLIP folder layout', { skip }, async () => {
  const root = tempDir('salf-pg-clip-');
  const world = join(root, 'world');
  await generateWorld({ seed: 3, counts: { train: 64, val: 16, test: 16, shifted: 16 }, outDir: world });
  const run = (out: string): string => {
    const r = spawnSync(
      python,
      [
        trainer,
        '--world',
        world,
        '--out',
        out,
        '--only',
        'clip',
        '--clip-steps',
        '3',
        '--batch',
        '16',
        '--eval-images',
        '2',
        '--clip-width',
        '24',
        '--clip-channels',
        '128',
        '--threads',
        '1',
      ],
      { encoding: 'utf8' },
    );
    assert.equal(r.status, 0, `${trainer} failed:\n${r.stdout}\n${r.stderr}`);
    return join(out, 'clip');
  };
  const a = run(join(root, 'a'));
  const b = run(join(root, 'b'));
  for (const f of ['onnx/vision_model.onnx', 'onnx/text_model.onnx', 'config.json', 'tokenizer.json']) {
    assert.equal(sha(join(a, f)), sha(join(b, f)), `${f}: the same world and seed give the same bytes`);
  }
  const cfg = JSON.parse(readFileSync(join(a, 'config.json'), 'utf8'));
  assert.equal(cfg.vision_config.hidden_size, 128);

  const clip = await ClipModel.load(a);
  try {
    assert.equal(clip.embedDim, 64);
    const size = clip.inputSize;
    const pixels = new Float32Array(2 * 3 * size * size).map((_, i) => ((i * 7919) % 255) / 255 - 0.5);
    const images = await clip.encodeImages(pixels, 2);
    const texts = await clip.encodeTexts(['a blue star', 'red']);
    assert.equal(images.length, 2 * 64);
    assert.equal(texts.length, 2 * 64);
    assert.ok(images.every(Number.isFinite) && texts.every(Number.isFinite));
    assert.notDeepEqual(images.subarray(0, 64), images.subarray(64), 'different images give different embeddings');
  } finally {
    await clip.dispose();
  }
});
