import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { imageToInput, inputGeometry, inputToImage, visibleRect } from '../../src/explain/geometry.js';
import { upsampleBilinear } from '../../src/explain/heatmap.js';
import {
  decodeRle,
  decodeRleString,
  encodeRle,
  encodeRleString,
  gridMask,
  parseRegion,
  rasteriseRegion,
  regionGridWeights,
  samMaskFromJson,
} from '../../src/explain/regions.js';
import { tempDir } from '../helpers/paths.js';

const stretch64 = inputGeometry(128, 128, { size: 64, mode: 'stretch' });

test('COCO RLE strings decode as pycocotools does (hand-worked examples), and encode back', () => {
  // Runs 2,3,4: one 6-bit digit each ('0' + value); only runs from the fourth on are stored as
  // differences from the run two before (pycocotools' `if (i > 2)`).
  assert.deepEqual(decodeRleString('234'), [2, 3, 4]);
  // Runs 5,1,2,3: the fourth is stored as 3 − 1 = 2.
  assert.deepEqual(decodeRleString('5122'), [5, 1, 2, 3]);
  // Runs 1,5,1,2: the fourth is 2 − 5 = −3, one chunk 0b11101 (sign bit 0x10 set) → '0' + 29 = 'M'.
  assert.deepEqual(decodeRleString('151M'), [1, 5, 1, 2]);
  assert.equal(encodeRleString([2, 3, 4]), '234');
  assert.equal(encodeRleString([5, 1, 2, 3]), '5122');
  assert.equal(encodeRleString([1, 5, 1, 2]), '151M');
  // Long runs need several chunks.
  const runs = [0, 70000, 3, 129, 1, 40000, 17];
  assert.deepEqual(decodeRleString(encodeRleString(runs)), runs);
  assert.throws(() => decodeRleString('2 3'), /invalid character/);
});

test('RLE masks are column-major, round-trip, and a size mismatch is refused', () => {
  // 3 rows × 2 columns; column-major runs: 1 zero, 2 ones (rows 1–2 of column 0), 3 zeros.
  const { mask, width, height } = decodeRle({ size: [3, 2], counts: [1, 2, 3] });
  assert.equal(width, 2);
  assert.equal(height, 3);
  assert.deepEqual(Array.from(mask), [0, 0, 1, 0, 1, 0]);
  let s = 7;
  const random = Uint8Array.from({ length: 13 * 9 }, () => ((s = (s * 1103515245 + 12345) >>> 0) >>> 30) & 1);
  const rle = encodeRle(random, 9, 13);
  assert.equal(typeof rle.counts, 'string');
  assert.deepEqual(Array.from(decodeRle(rle).mask), Array.from(random));
  assert.throws(() => decodeRle({ size: [3, 3], counts: [1, 2] }, 'm.json'), /m\.json: the runs cover 3 pixels but the mask is 3×3/);
  // Made with pycocotools 2.0.11: mask.encode(np.asfortranarray(rows)) of these 13×9 rows.
  const rows = [
    [0, 1, 1, 0, 0, 1, 0, 1, 1],
    [0, 1, 0, 0, 1, 0, 0, 0, 1],
    [1, 1, 1, 1, 0, 1, 0, 1, 0],
    [1, 0, 0, 0, 1, 0, 0, 0, 1],
    [1, 1, 1, 1, 0, 0, 1, 0, 1],
    [1, 0, 0, 0, 0, 0, 0, 1, 0],
    [0, 0, 1, 0, 0, 0, 0, 0, 1],
    [0, 0, 0, 1, 0, 1, 0, 1, 0],
    [1, 1, 1, 0, 0, 0, 0, 0, 0],
    [0, 0, 1, 0, 0, 0, 0, 0, 1],
    [0, 1, 0, 1, 0, 0, 0, 0, 1],
    [0, 1, 0, 1, 1, 0, 0, 0, 0],
    [0, 1, 0, 1, 1, 0, 1, 0, 1],
  ].flat();
  const coco = { size: [13, 9] as [number, number], counts: '242M22MN20N30M0000014OL01002ON0062JN3050N1JO10O041L00O11OO' };
  assert.deepEqual(Array.from(decodeRle(coco).mask), rows);
  assert.equal(encodeRle(Uint8Array.from(rows), 9, 13).counts, coco.counts);
  const list = JSON.stringify([{ segmentation: rle }, { segmentation: rle }]);
  assert.throws(() => samMaskFromJson(list, 'sam.json'), /holds 2 masks; pick one with #<index>/);
  assert.deepEqual(Array.from(samMaskFromJson(list, 'sam.json', 1).mask), Array.from(random));
  assert.throws(() => samMaskFromJson(JSON.stringify({ segmentation: [[0, 0, 1, 1, 2, 0]] }), 'p.json'), /polygon segmentations are not supported/);
});

test('geometry maps points between the image and the centre-cropped model input', () => {
  // 128×96 → shorter side 64 → 85×64, crop 64 with left = round((85 − 64)/2) = 10 (ties to even).
  const g = inputGeometry(128, 96, { size: 64, mode: 'center', resize: 64 });
  assert.deepEqual([g.resizedWidth, g.resizedHeight, g.left, g.top], [85, 64, 10, 0]);
  const [x, y] = inputToImage(g, 32, 16);
  assert.ok(Math.abs(x - (42 * 128) / 85) < 1e-9 && Math.abs(y - 24) < 1e-9);
  const [u, v] = imageToInput(g, x, y);
  assert.ok(Math.abs(u - 32) < 1e-9 && Math.abs(v - 16) < 1e-9);
  const r = visibleRect(g);
  assert.ok(Math.abs(r[0] - (10 * 128) / 85) < 1e-9 && Math.abs(r[2] - (74 * 128) / 85) < 1e-9 && r[1] === 0 && r[3] === 96);
});

test('boxes, points, mask images and SAM RLE files rasterise onto the model input', async () => {
  const box = rasteriseRegion(await parseRegion('box:32,32,64,64'), stretch64);
  assert.equal(box.area, 256);
  for (let v = 0; v < 64; v++) for (let u = 0; u < 64; u++) assert.equal(box.mask[v * 64 + u], u >= 16 && u < 32 && v >= 16 && v < 32 ? 1 : 0);
  assert.deepEqual(box.warnings, []);

  const disk = rasteriseRegion(await parseRegion('point:64,64,20'), stretch64);
  assert.ok(Math.abs(disk.area - Math.PI * 10 * 10) < 12, `disk area ${disk.area} ≈ π·10²`);

  // The same square as a PNG mask and as a SAM RLE file gives the same raster.
  const dir = tempDir('salf-regions-');
  const px = new Uint8Array(128 * 128);
  for (let y = 32; y < 64; y++) for (let x = 32; x < 64; x++) px[y * 128 + x] = 255;
  await sharp(Buffer.from(px), { raw: { width: 128, height: 128, channels: 1 } })
    .png()
    .toFile(join(dir, 'mask.png'));
  const fromPng = rasteriseRegion(await parseRegion(`mask:${join(dir, 'mask.png')}`), stretch64);
  assert.deepEqual(Array.from(fromPng.mask), Array.from(box.mask));
  const bin = px.map((v) => (v ? 1 : 0));
  writeFileSync(join(dir, 'sam.json'), JSON.stringify([{ segmentation: encodeRle(bin, 128, 128), area: 1024 }]));
  const fromRle = rasteriseRegion(await parseRegion(`sam:${join(dir, 'sam.json')}`), stretch64);
  assert.deepEqual(Array.from(fromRle.mask), Array.from(box.mask));
  // A 0/1 mask (not 0/255) and a transparent-background RGBA mask read the same.
  await sharp(Buffer.from(bin), { raw: { width: 128, height: 128, channels: 1 } })
    .png()
    .toFile(join(dir, 'mask01.png'));
  assert.equal(rasteriseRegion(await parseRegion(`mask:${join(dir, 'mask01.png')}`), stretch64).area, 256);
  const rgba = new Uint8Array(128 * 128 * 4);
  for (let p = 0; p < 128 * 128; p++) rgba.set([200, 200, 200, bin[p]! ? 255 : 0], p * 4);
  await sharp(Buffer.from(rgba), { raw: { width: 128, height: 128, channels: 4 } })
    .png()
    .toFile(join(dir, 'alpha.png'));
  assert.deepEqual(Array.from(rasteriseRegion(await parseRegion(`mask:${join(dir, 'alpha.png')}`), stretch64).mask), Array.from(box.mask));
  // Input-frame coordinates skip the mapping.
  assert.deepEqual(Array.from(rasteriseRegion(await parseRegion('box:16,16,32,32'), stretch64, { frame: 'input' }).mask), Array.from(box.mask));
});

test('bad regions fail with clear messages; partial ones warn; masks of the wrong size are resized or refused', async () => {
  await assert.rejects(parseRegion('box:10,10,5,20'), /x1 > x0/);
  await assert.rejects(parseRegion('circle:1,2'), /unknown kind "circle"/);
  await assert.rejects(parseRegion('point:1'), /expected 2 or 3 comma-separated numbers/);
  await assert.rejects(parseRegion('mask:/no/such/mask.png'), /\/no\/such\/mask\.png: cannot read the mask \(file not found\)/);
  const r1 = await parseRegion('box:200,10,260,40');
  assert.throws(() => rasteriseRegion(r1, stretch64), /lies outside the image \(128×128\)/);
  const r2 = await parseRegion('point:-50,-50,10');
  assert.throws(() => rasteriseRegion(r2, stretch64), /lies outside the image/);
  const partial = rasteriseRegion(await parseRegion('box:100,100,200,200'), stretch64);
  assert.equal(partial.area, 14 * 14);
  assert.match(partial.warnings.join(), /extends beyond the image/);
  // Centre crop of a wide image: the left edge is cut away.
  const wide = inputGeometry(128, 64, { size: 64, mode: 'center', resize: 64 });
  const r3 = await parseRegion('box:0,0,20,20');
  assert.throws(() => rasteriseRegion(r3, wide), /outside the part of the image the model sees/);
  assert.match(rasteriseRegion(await parseRegion('box:20,0,60,20'), wide).warnings.join(), /cropped away by the preprocessing/);
  const r4 = await parseRegion('point:64,64,0.1');
  assert.throws(() => rasteriseRegion(r4, stretch64), /covers no pixel of the model input/);

  const half = new Uint8Array(64 * 64);
  for (let y = 16; y < 32; y++) for (let x = 16; x < 32; x++) half[y * 64 + x] = 1;
  const resized = rasteriseRegion({ kind: 'mask', mask: half, width: 64, height: 64, source: 'half.png' }, stretch64);
  assert.match(resized.warnings.join(), /the mask is 64×64 but the image \(128×128\) is 128×128; resized/);
  assert.equal(resized.area, 256);
  assert.throws(
    () => rasteriseRegion({ kind: 'mask', mask: new Uint8Array(64 * 32).fill(1), width: 64, height: 32, source: 'wide.png' }, stretch64),
    /region mask:wide\.png: the mask is 64×32 but the image \(128×128\) is 128×128; their aspect ratios differ/,
  );
});

test('grid weights give exact region sums of upsampled maps; the grid mask is the covered fraction of each cell', async () => {
  const grid: [number, number] = [4, 4];
  const region = rasteriseRegion(await parseRegion('point:50,70,30'), stretch64);
  const w = regionGridWeights(region, grid);
  let s = 3;
  const C = Float32Array.from({ length: 16 }, () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32) * 2 - 1);
  const up = upsampleBilinear(C, 4, 4, 64, 64);
  let brute = 0;
  for (let p = 0; p < 64 * 64; p++) if (region.mask[p]) brute += up[p]!;
  const fast = C.reduce((a, c, g) => a + c * w[g]!, 0);
  assert.ok(Math.abs(brute - fast) < 1e-3, `${brute} vs ${fast}`);
  // Weights of the whole image sum to its area.
  const all = regionGridWeights(rasteriseRegion({ kind: 'all' }, stretch64), grid);
  assert.ok(Math.abs(all.reduce((a, b) => a + b, 0) - 64 * 64) < 1e-6);

  // Input pixels [16,32)² are exactly grid cell (1, 1).
  const cell = gridMask(rasteriseRegion(await parseRegion('box:16,16,32,32'), stretch64, { frame: 'input' }), grid);
  assert.deepEqual(Array.from(cell), [0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  const quarter = gridMask(rasteriseRegion(await parseRegion('box:0,0,8,8'), stretch64, { frame: 'input' }), grid);
  assert.equal(quarter[0], 0.25);
  assert.equal(
    quarter.reduce((a, b) => a + b, 0),
    0.25,
  );
});
