import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { COLORMAP, blend, colourise, colormapAt, upsampleBilinear } from '../../src/explain/heatmap.js';
import { fixturePath } from '../helpers/paths.js';

test('bilinear upsampling matches torch.nn.functional.interpolate (align_corners=False) on every golden case', () => {
  const golden = JSON.parse(readFileSync(fixturePath('resize-golden.json'), 'utf8')) as {
    cases: { shape: number[]; grid: [number, number]; input: number[]; output: number[] }[];
  };
  let checked = 0;
  for (const c of golden.cases) {
    const [n, ch, h, w] = c.shape as [number, number, number, number];
    const [oh, ow] = c.grid;
    for (let p = 0; p < n * ch; p++) {
      const got = upsampleBilinear(c.input.slice(p * h * w, (p + 1) * h * w), h, w, oh, ow);
      const want = c.output.slice(p * oh * ow, (p + 1) * oh * ow);
      for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i]! - want[i]!) < 1e-5, `case ${c.shape}→${c.grid}, plane ${p}, value ${i}`);
      checked++;
    }
  }
  assert.ok(checked >= 6);
});

test('upsampling a constant map gives the constant; a wrong-sized map is refused', () => {
  const up = upsampleBilinear(new Float32Array(9).fill(2.5), 3, 3, 40, 30);
  assert.equal(up.length, 1200);
  assert.ok(up.every((v) => Math.abs(v - 2.5) < 1e-6));
  assert.throws(() => upsampleBilinear(new Float32Array(8), 3, 3, 4, 4), /8 values, expected 3×3/);
});

test('the colormap is perceptually ordered: luminance rises strictly from dark violet to light yellow', () => {
  const lum = (i: number): number => {
    const lin = [0, 1, 2].map((c) => {
      const v = COLORMAP[i * 3 + c]! / 255;
      return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * lin[0]! + 0.7152 * lin[1]! + 0.0722 * lin[2]!;
  };
  for (let i = 1; i < 256; i++) assert.ok(lum(i) > lum(i - 1), `luminance must rise at entry ${i}`);
  assert.ok(lum(0) < 0.05 && lum(255) > 0.7, `from dark (${lum(0)}) to light (${lum(255)})`);
  const [r0, , b0] = colormapAt(0);
  const [r1, g1, b1] = colormapAt(1);
  assert.ok(b0 > r0 * 0.9 && b0 > 40, 'starts violet-blue');
  assert.ok(r1 > b1 + 100 && g1 > b1 + 100, 'ends yellow');
  const mid = colormapAt(0.5);
  assert.ok(Math.max(...mid) - Math.min(...mid) > 40, 'the middle is coloured, not grey');
});

test('colourise scales to the given range and gives a constant map the middle colour; blend mixes', () => {
  const rgb = colourise([0, 5, 10], 0, 10);
  assert.deepEqual(Array.from(rgb.subarray(0, 3)), colormapAt(0));
  assert.deepEqual(Array.from(rgb.subarray(6, 9)), colormapAt(1));
  assert.deepEqual(Array.from(colourise([3, 3], 3, 3).subarray(0, 3)), colormapAt(0.5));
  assert.deepEqual(Array.from(blend(Uint8Array.from([0, 100, 200]), Uint8Array.from([200, 100, 0]), 0.25)), [50, 100, 150]);
});
