import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LocalisationScore } from '../../src/proving-ground/localisation.js';
import { upsampleAtCentres } from '../../src/explain/prompt-aligned.js';

/** A size×size mask with the given square [x0, x1)×[y0, y1) set. */
function squareMask(size: number, x0: number, x1: number, y0: number, y1: number): Uint8Array {
  const m = new Uint8Array(size * size);
  for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) m[y * size + x] = 1;
  return m;
}

test('pointing game: a map peaking on the object hits, one peaking elsewhere misses', () => {
  const s = new LocalisationScore();
  const mask = squareMask(8, 0, 4, 0, 4); // top-left quadrant
  s.add('red', [1, 0, 0, 0], [2, 2], mask, 8); // peak top-left
  s.add('red', [0, 0, 0, 1], [2, 2], mask, 8); // peak bottom-right
  assert.equal(s.pairs, 2);
  assert.equal(s.pointingGame, 0.5);
  assert.equal(s.chance, 16 / 64);
});

test('concept IoU follows the mean-threshold protocol, hand-computed on a 2×2 grid', () => {
  const s = new LocalisationScore();
  // A 2×2 grid upsampled to 2×2 is the identity: values 1,0,0,0 → foreground = {0}.
  s.add('star', [1, 0, 0, 0], [2, 2], Uint8Array.from([1, 1, 0, 0]), 2);
  // fg: inter 1, union 2 → 0.5; bg: inter 2 (pixels 2,3), union 3 → 2/3.
  assert.ok(Math.abs(s.conceptIoU().star! - (0.5 + 2 / 3) / 2) < 1e-12);
  s.add('blue', [0, 0, 1, 1], [2, 2], Uint8Array.from([0, 0, 1, 1]), 2);
  assert.equal(s.conceptIoU().blue, 1);
  assert.ok(Math.abs(s.conceptMIoU - ((0.5 + 2 / 3) / 2 + 1) / 2) < 1e-12);
});

test("the pointing game points at the maximal cell's node, not at the flat border beyond it", () => {
  // Prompt-aligned nodes at pixels 2 and 5 of an 8-px image: beyond them the map is flat, so a
  // first-argmax over pixels would report row 0 / column 0, outside this object at rows/cols 1–3.
  const nodes = { y: [2, 5], x: [2, 5] };
  const s = new LocalisationScore(
    (map, _g, size) => upsampleAtCentres(map, nodes.y, nodes.x, size, size),
    () => nodes,
  );
  const mask = squareMask(8, 1, 4, 1, 4);
  s.add('star', [1, 0, 0, 0], [2, 2], mask, 8);
  assert.equal(s.pointingGame, 1);
});
