import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fixturePath } from '../helpers/paths.js';
import { circlePixels, defaultRadius, drawCircle, gridCentres, gridPrompts } from '../../src/similarity/prompting.js';

interface GoldenCase {
  size: number;
  cx: number;
  cy: number;
  r: number;
  thickness: number;
  count: number;
  rows: number[][];
}

function goldenIndices(c: GoldenCase): number[] {
  const out: number[] = [];
  for (const row of c.rows) {
    const y = row[0]!;
    for (let k = 1; k < row.length; k += 2) {
      for (let x = row[k]!; x < row[k]! + row[k + 1]!; x++) out.push(y * c.size + x);
    }
  }
  return out;
}

test('circles match OpenCV cv2.circle(LINE_8) pixel for pixel', () => {
  const golden = JSON.parse(readFileSync(fixturePath('circles-golden.json'), 'utf8')) as { cases: GoldenCase[] };
  assert.ok(golden.cases.length >= 40);
  let mismatched = 0;
  const report: string[] = [];
  for (const c of golden.cases) {
    const want = goldenIndices(c);
    assert.equal(want.length, c.count);
    const got = Array.from(circlePixels(c.size, c.size, c.cx, c.cy, c.r, c.thickness));
    const wantSet = new Set(want);
    const gotSet = new Set(got);
    const missing = want.filter((i) => !gotSet.has(i));
    const extra = got.filter((i) => !wantSet.has(i));
    if (missing.length || extra.length) {
      mismatched++;
      const fmt = (l: number[]) =>
        l
          .slice(0, 6)
          .map((i) => `(${i % c.size},${Math.floor(i / c.size)})`)
          .join(' ');
      report.push(
        `size ${c.size} centre (${c.cx},${c.cy}) r ${c.r} t ${c.thickness}: missing ${missing.length} [${fmt(missing)}] extra ${extra.length} [${fmt(extra)}]`,
      );
    }
  }
  assert.equal(mismatched, 0, report.join('\n'));
});

test('drawCircle paints exactly the circle pixels with the colour and leaves the rest', () => {
  const size = 40;
  const data = new Uint8Array(size * size * 3).fill(7);
  drawCircle({ data, width: size, height: size }, 20, 18, 9);
  const px = new Set(circlePixels(size, size, 20, 18, 9, 2));
  assert.ok(px.size > 50);
  for (let i = 0; i < size * size; i++) {
    const rgb = [data[i * 3], data[i * 3 + 1], data[i * 3 + 2]];
    assert.deepEqual(rgb, px.has(i) ? [255, 0, 0] : [7, 7, 7]);
  }
});

test('grid centres: inside placement spans r..S-1-r, stride placement follows the paper', () => {
  assert.deepEqual(gridCentres(224, 7, 32), [32, 59, 85, 112, 138, 165, 191]);
  assert.deepEqual(gridCentres(224, 5, 32), [32, 72, 112, 151, 191]);
  assert.deepEqual(gridCentres(224, 1, 32), [112]);
  assert.deepEqual(gridCentres(224, 7, 32, 'stride'), [0, 37, 74, 111, 148, 185, 222]);
  assert.deepEqual(gridCentres(12, 4, 0, 'stride'), [0, 4, 8, 11]);
  for (const [s, g, r] of [
    [224, 7, 32],
    [336, 9, 48],
    [64, 3, 9],
  ] as const) {
    const c = gridCentres(s, g, r);
    assert.equal(c[0], r);
    assert.equal(c[g - 1], s - 1 - r);
    for (let i = 1; i < g; i++) assert.ok(c[i]! > c[i - 1]!);
  }
  assert.throws(() => gridCentres(40, 3, 20), /does not fit/);
  assert.equal(defaultRadius(224), 32);
  assert.equal(defaultRadius(336), 48);
  const p = gridPrompts(224, [2, 3], 32);
  assert.deepEqual(
    p.map((q) => [q.h, q.w, q.cx, q.cy]),
    [
      [0, 0, 32, 32],
      [0, 1, 112, 32],
      [0, 2, 191, 32],
      [1, 0, 32, 191],
      [1, 1, 112, 191],
      [1, 2, 191, 191],
    ],
  );
});
