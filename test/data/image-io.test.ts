import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { centerGeometry, decodeRgb, loadRgb, resizeRgb, toChwNormalised } from '../../src/data/image-io.js';
import type { RgbImage } from '../../src/data/rgb-image.js';
import { tempDir } from '../helpers/paths.js';

const dir = tempDir('salf-image-io-');
after(() => rmSync(dir, { recursive: true, force: true }));

function px(img: RgbImage, x: number, y: number): [number, number, number] {
  const i = (y * img.width + x) * 3;
  return [img.data[i]!, img.data[i + 1]!, img.data[i + 2]!];
}

/** A raw RGB image with `colour(x, y)` per pixel. */
function rawRgb(w: number, h: number, colour: (x: number, y: number) => [number, number, number]): Buffer {
  const b = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) b.set(colour(x, y), (y * w + x) * 3);
  }
  return b;
}

const RED: [number, number, number] = [255, 0, 0];
const BLUE: [number, number, number] = [0, 0, 255];

test('greyscale PNG decodes to three equal channels', async () => {
  const p = join(dir, 'grey.png');
  await sharp(Buffer.from([0, 128, 255, 64]), { raw: { width: 2, height: 2, channels: 1 } })
    .toColourspace('b-w')
    .png()
    .toFile(p);
  assert.equal((await sharp(p).metadata()).channels, 1);
  const img = await decodeRgb(p);
  assert.equal(img.width, 2);
  assert.equal(img.height, 2);
  assert.deepEqual([...img.data], [0, 0, 0, 128, 128, 128, 255, 255, 255, 64, 64, 64]);
});

test('alpha is dropped, keeping the colour under transparent pixels', async () => {
  const p = join(dir, 'rgba.png');
  await sharp(Buffer.from([10, 20, 30, 0, 40, 50, 60, 128]), { raw: { width: 2, height: 1, channels: 4 } })
    .png()
    .toFile(p);
  const img = await decodeRgb(p);
  assert.deepEqual([...img.data], [10, 20, 30, 40, 50, 60]);
});

test('CMYK JPEG is converted to sRGB', async () => {
  const p = join(dir, 'cmyk.jpg');
  await sharp(
    rawRgb(16, 16, () => [200, 120, 60]),
    { raw: { width: 16, height: 16, channels: 3 } },
  )
    .toColourspace('cmyk')
    .jpeg({ quality: 95 })
    .toFile(p);
  assert.equal((await sharp(p).metadata()).space, 'cmyk');
  const img = await decodeRgb(p);
  assert.equal(img.data.length, 16 * 16 * 3);
  const [r, g, b] = px(img, 8, 8);
  assert.ok(Math.abs(r - 200) < 25 && Math.abs(g - 120) < 25 && Math.abs(b - 60) < 25, `got ${r},${g},${b}`);
});

test('16-bit PNGs (RGB and grey) are reduced to 8 bits', async () => {
  const rgb = join(dir, 'rgb16.png');
  await sharp(new Uint16Array([65535, 0, 128 * 257, 100 * 257, 0, 0]), { raw: { width: 2, height: 1, channels: 3 } })
    .toColourspace('rgb16')
    .png()
    .toFile(rgb);
  const grey = join(dir, 'grey16.png');
  await sharp(new Uint16Array([0, 65535]), { raw: { width: 2, height: 1, channels: 1 } })
    .toColourspace('grey16')
    .png()
    .toFile(grey);
  assert.equal((await sharp(rgb).metadata()).depth, 'ushort');
  assert.equal((await sharp(grey).metadata()).depth, 'ushort');
  assert.deepEqual([...(await decodeRgb(rgb)).data], [255, 0, 128, 100, 0, 0]);
  assert.deepEqual([...(await decodeRgb(grey)).data], [0, 0, 0, 255, 255, 255]);
});

test('EXIF orientation 6 is applied (stored left half becomes the top half)', async () => {
  const p = join(dir, 'exif6.jpg');
  await sharp(
    rawRgb(32, 16, (x) => (x < 16 ? RED : BLUE)),
    { raw: { width: 32, height: 16, channels: 3 } },
  )
    .jpeg({ quality: 95 })
    .withMetadata({ orientation: 6 })
    .toFile(p);
  assert.equal((await sharp(p).metadata()).orientation, 6);
  const img = await decodeRgb(p);
  assert.equal(img.width, 16);
  assert.equal(img.height, 32);
  const top = px(img, 8, 8);
  const bottom = px(img, 8, 24);
  assert.ok(top[0] > 200 && top[2] < 50, `top ${top}`);
  assert.ok(bottom[2] > 200 && bottom[0] < 50, `bottom ${bottom}`);
  const raw = await decodeRgb(p, { autoOrient: false });
  assert.equal(raw.width, 32);
  assert.equal(raw.height, 16);
  // loadRgb orients before resizing: a stretch keeps red on top.
  const small = await loadRgb(p, { size: 8, mode: 'stretch' });
  assert.ok(px(small, 4, 1)[0] > 200 && px(small, 4, 6)[2] > 200);
});

test('corrupt, truncated and missing files give errors naming them', async () => {
  const good = join(dir, 'good.jpg');
  await sharp(
    rawRgb(64, 48, (x, y) => [(x * 7) & 255, (y * 5) & 255, 90]),
    { raw: { width: 64, height: 48, channels: 3 } },
  )
    .jpeg()
    .toFile(good);
  const bytes = readFileSync(good);
  const trunc = join(dir, 'truncated.jpg');
  writeFileSync(trunc, bytes.subarray(0, Math.floor(bytes.length * 0.7)));
  const junk = join(dir, 'photo.jpg');
  writeFileSync(junk, 'not an image at all');
  await assert.doesNotReject(decodeRgb(good));
  await assert.rejects(decodeRgb(trunc), (e: Error) => e.message.startsWith(`${trunc}: cannot decode image (`));
  await assert.rejects(loadRgb(junk, { size: 4, mode: 'center' }), (e: Error) => e.message.startsWith(`${junk}: cannot decode image (`));
  const missing = join(dir, 'nope.png');
  await assert.rejects(decodeRgb(missing), (e: Error) => e.message === `${missing}: cannot read file (ENOENT)`);
});

test("'center' crops the middle while 'stretch' keeps the whole width", async () => {
  // 40×20, the left fifth red, the rest blue.
  const p = join(dir, 'wide.png');
  await sharp(
    rawRgb(40, 20, (x) => (x < 8 ? RED : BLUE)),
    { raw: { width: 40, height: 20, channels: 3 } },
  )
    .png()
    .toFile(p);
  const stretch = await loadRgb(p, { size: 10, mode: 'stretch' });
  assert.equal(stretch.width, 10);
  assert.equal(stretch.height, 10);
  assert.deepEqual(px(stretch, 0, 5), RED);
  assert.deepEqual(px(stretch, 5, 5), BLUE);
  assert.deepEqual(px(stretch, 9, 0), BLUE);

  // Shorter side to 10 → 20×10, crop columns 5..14: the red fifth (columns 0..3) is cut away.
  const center = await loadRgb(p, { size: 10, mode: 'center' });
  assert.equal(center.width, 10);
  assert.equal(center.height, 10);
  for (let x = 0; x < 10; x++) {
    const [r, , b] = px(center, x, 5);
    assert.ok(r < 30 && b > 220, `column ${x}: ${r},${b}`);
  }

  // Portrait: the top fifth red disappears the same way vertically, but not with stretch.
  const q = join(dir, 'tall.png');
  await sharp(
    rawRgb(20, 40, (_x, y) => (y < 8 ? RED : BLUE)),
    { raw: { width: 20, height: 40, channels: 3 } },
  )
    .png()
    .toFile(q);
  const tall = await loadRgb(q, { size: 10, mode: 'center' });
  assert.ok(px(tall, 5, 0)[2] > 220);
  assert.deepEqual(px(await loadRgb(q, { size: 10, mode: 'stretch' }), 5, 0), RED);
});

test('center geometry follows torchvision (truncated long side, crop offsets rounded half to even)', async () => {
  assert.deepEqual(centerGeometry(300, 200, { size: 224, mode: 'center', resize: 256 }), {
    width: 384,
    height: 256,
    left: 80,
    top: 16,
  });
  // 224·333/224 = 333; (333−224)/2 = 54.5 → 54 (even).
  assert.deepEqual(centerGeometry(224, 333, { size: 224, mode: 'center' }), { width: 224, height: 333, left: 0, top: 54 });
  // (227−224)/2 = 1.5 → 2.
  assert.equal(centerGeometry(227, 224, { size: 224, mode: 'center' }).left, 2);
  // 10·17/7 = 24.28 → 24.
  assert.equal(centerGeometry(17, 7, { size: 10, mode: 'center' }).width, 24);
  await assert.rejects(loadRgb('x.png', { size: 224, mode: 'center', resize: 200 }), /resize \(200\) must be/);
});

test('resizeRgb matches PIL Image.resize bit for bit', () => {
  // Values from Pillow 13: Image.fromarray(a).resize(...), a[y,x,c] = (53x + 97y + 71c + 13xy) % 256.
  const w = 9;
  const h = 6;
  const src = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let c = 0; c < 3; c++) src[(y * w + x) * 3 + c] = (x * 53 + y * 97 + c * 71 + x * y * 13) % 256;
    }
  }
  const img = { data: src, width: w, height: h };
  const bicubic = [
    93, 136, 161, 139, 145, 146, 123, 126, 136, 120, 161, 130, 115, 111, 114, 141, 140, 136, 165, 147, 128, 122, 126, 144, 165, 115, 127, 129, 76, 147, 134,
    136, 117, 129, 138, 128,
  ];
  assert.deepEqual([...resizeRgb(img, 4, 3, 'bicubic').data], bicubic);
  const bilinear = [
    30, 101, 172, 113, 184, 175, 152, 87, 98, 55, 126, 149, 138, 209, 42, 113, 169, 154, 148, 118, 134, 115, 157, 168, 154, 124, 122, 103, 159, 180, 120, 102,
    134, 124, 149, 152, 162, 146, 157, 159, 153, 113, 124, 118, 177, 100, 97, 114, 129, 136, 143, 171, 144, 117, 145, 152, 135, 110, 126, 133, 119, 138, 93,
    150, 93, 133, 130, 141, 103, 160, 134, 145, 108, 127, 128, 173, 126, 96, 146, 89, 160, 106, 101, 125, 171, 142, 122, 149, 105, 145, 168, 93, 164, 144, 87,
    158, 129, 64, 135, 106, 177, 120, 100, 171, 96,
  ];
  assert.deepEqual([...resizeRgb(img, 5, 7, 'bilinear').data], bilinear);
  // A crop window gives the same pixels as resizing fully and cropping.
  const win = resizeRgb(img, 5, 7, 'bilinear', { x: 1, y: 2, width: 3, height: 4 });
  const full = resizeRgb(img, 5, 7, 'bilinear');
  for (let y = 0; y < 4; y++) {
    for (let x = 0; x < 3; x++) assert.deepEqual(px(win, x, y), px(full, x + 1, y + 2));
  }
  // Same size is the identity.
  assert.deepEqual([...resizeRgb(img, 9, 6).data], [...src]);
});

test('toChwNormalised writes (x/255 − mean)/std planar at an offset', () => {
  const img = { data: new Uint8Array([255, 0, 51, 0, 255, 102]), width: 2, height: 1 };
  const out = new Float32Array(9).fill(7);
  const ret = toChwNormalised(img, [0.5, 0.25, 0.1], [0.5, 0.25, 0.2], out, 3);
  assert.equal(ret, out);
  const expected = [7, 7, 7, 1, -1, -1, 3, 0.5, 1.5];
  out.forEach((v, i) => assert.ok(Math.abs(v - expected[i]!) < 1e-6, `index ${i}: ${v} vs ${expected[i]}`));
  const fresh = toChwNormalised(img, [0, 0, 0], [1, 1, 1]);
  assert.equal(fresh.length, 6);
  assert.ok(Math.abs(fresh[4]! - 0.2) < 1e-7);
  assert.throws(() => toChwNormalised(img, [0, 0, 0], [1, 1, 1], new Float32Array(8), 3), /do not fit/);
});
