/**
 * Decoding bounds: an image over the pixel limit (a small compressed file can hold a huge one) is
 * refused before its pixels are decoded, with an error naming the file and `--max-pixels`; the
 * limit can be raised; concurrent decoding holds at most the pixel budget at once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { DEFAULT_MAX_PIXELS, decodeRgb, maxDecodePixels, setMaxDecodePixels } from '../../src/data/image-io.js';
import { PixelBudget } from '../../src/data/pixel-budget.js';
import { colourModel } from '../explain/colour-model.js';
import { tempDir } from '../helpers/paths.js';
import { runCli } from '../helpers/run-cli.js';

async function writeFlatPng(path: string, width: number, height: number): Promise<string> {
  writeFileSync(
    path,
    await sharp({ create: { width, height, channels: 3, background: { r: 200, g: 10, b: 10 } } })
      .png({ compressionLevel: 9 })
      .toBuffer(),
  );
  return path;
}

test('an image over the pixel limit is refused from its header, naming the file and the flag; the limit can be raised', async () => {
  const dir = tempDir('salf-decode-limit-');
  // 12000×9000 = 108 megapixels in a file of a few hundred KB.
  const huge = await writeFlatPng(join(dir, 'huge.png'), 12_000, 9_000);
  assert.ok(statSync(huge).size < 2 * 2 ** 20);
  assert.equal(maxDecodePixels(), DEFAULT_MAX_PIXELS);
  await assert.rejects(decodeRgb(huge), (err: Error) => {
    assert.match(err.message, /huge\.png: image of 12000×9000 = 108000000 pixels is over the decoding limit of 100000000 pixels; raise it with --max-pixels/);
    return true;
  });
  const small = await writeFlatPng(join(dir, 'small.png'), 300, 200);
  setMaxDecodePixels(50_000);
  try {
    await assert.rejects(decodeRgb(small), /small\.png: image of 300×200 = 60000 pixels is over the decoding limit of 50000/);
    setMaxDecodePixels(60_000);
    const img = await decodeRgb(small);
    assert.deepEqual([img.width, img.height, img.data[0]], [300, 200, 200]);
  } finally {
    setMaxDecodePixels(DEFAULT_MAX_PIXELS);
  }
  assert.throws(() => setMaxDecodePixels(0), /positive integer/);
});

test('the pixel budget never lets more pixels be decoded at once than its capacity, and serves waiters in order', async () => {
  const budget = new PixelBudget(100);
  let peak = 0;
  const order: number[] = [];
  const job = (i: number, pixels: number) =>
    budget.run(pixels, async () => {
      peak = Math.max(peak, budget.held);
      await new Promise((r) => setTimeout(r, 5));
      order.push(i);
      return i;
    });
  // 60 + 60 cannot overlap; 30 + 30 + 30 can; 500 (over the whole budget) runs alone.
  const results = await Promise.all([job(0, 60), job(1, 60), job(2, 30), job(3, 30), job(4, 500), job(5, 10)]);
  assert.deepEqual(results, [0, 1, 2, 3, 4, 5]);
  assert.ok(peak <= 100, `peak ${peak}`);
  // The 500-pixel request is held to the whole budget, alone.
  assert.equal(peak, 100);
  assert.equal(budget.held, 0);
  assert.deepEqual(order, [0, 1, 2, 3, 4, 5]);
});

test('`--max-pixels` raises the limit for the command line; the default refuses with the file and the flag named', async () => {
  const dir = tempDir('salf-decode-cli-');
  const modelDir = join(dir, 'model');
  mkdirSync(modelDir);
  colourModel(dir).save(modelDir);
  const img = await writeFlatPng(join(dir, 'wide.png'), 400, 300);
  const refused = runCli(['predict', '--model', modelDir, '--max-pixels', '100000', img]);
  assert.notEqual(refused.status, 0);
  assert.match(refused.stderr, /wide\.png: image of 400×300 = 120000 pixels is over the decoding limit of 100000 pixels; raise it with --max-pixels/);
  const raised = runCli(['predict', '--model', modelDir, '--max-pixels', '120000', '--json', img]);
  assert.equal(raised.status, 0, raised.stderr);
  assert.equal(JSON.parse(raised.stdout).results[0].prediction, 'reddish');
});
