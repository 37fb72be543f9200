import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deflateSync } from 'node:zlib';
import sharp from 'sharp';
import {
  decodePng,
  encodeGrayPng,
  nearestColour,
  nominalArea,
  renderScene,
  SHAPES,
  type Background,
  type Scene,
  type SceneObject,
} from '../../src/proving-ground/index.js';

const plain: Background = { style: 'plain', colourA: [128, 128, 128], colourB: [90, 90, 90], angle: 0, scale: 20, ox: 0.5, oy: 0.5, seed: 1 };

function object(over: Partial<SceneObject>): SceneObject {
  return {
    shape: 'circle',
    colour: 'blue',
    pattern: 'solid',
    cx: 50,
    cy: 50,
    radius: 20,
    rotation: 0.3,
    fill: [40, 80, 220],
    shade: [22, 44, 121],
    patternAngle: 0.5,
    patternPeriod: 9,
    ...over,
  };
}

test("rasterised areas match the shapes' geometric areas", () => {
  for (const shape of SHAPES) {
    const o = object({ shape, cx: 100, cy: 100, radius: 60, rotation: 0.7 });
    const { labels } = renderScene({ size: 200, background: plain, objects: [o] });
    const area = labels.reduce((n, l) => n + l, 0);
    const want = nominalArea(o);
    assert.ok(Math.abs(area - want) / want < 0.02, `${shape}: ${area} px vs ${want.toFixed(0)}`);
  }
});

test('later objects occlude earlier ones in pixels and labels', () => {
  const a = object({ shape: 'square', colour: 'red', fill: [200, 40, 40], shade: [110, 22, 22], cx: 40, cy: 50 });
  const b = object({ shape: 'circle', colour: 'green', fill: [40, 180, 60], shade: [22, 99, 33], cx: 60, cy: 50 });
  const scene: Scene = { size: 100, background: plain, objects: [a, b] };
  const { image, labels } = renderScene(scene);
  const at = (x: number, y: number): number => labels[y * 100 + x]!;
  const rgb = (x: number, y: number): number[] => [...image.data.subarray((y * 100 + x) * 3, (y * 100 + x) * 3 + 3)];
  assert.equal(at(50, 50), 2); // inside both: the later one wins
  assert.deepEqual(rgb(50, 50), [40, 180, 60]);
  assert.equal(at(28, 50), 1);
  assert.deepEqual(rgb(28, 50), [200, 40, 40]);
  assert.equal(at(2, 2), 0);
  assert.deepEqual(rgb(2, 2), [128, 128, 128]);
  const swapped = renderScene({ ...scene, objects: [b, a] }).labels;
  assert.equal(swapped[50 * 100 + 50], 2);
  const area1 = labels.reduce((n, l) => n + (l === 1 ? 1 : 0), 0);
  assert.ok(area1 < nominalArea(a) * 0.8, 'occluded square keeps its full area');
});

test('patterns: stripes and dots use the shade on part of the object', () => {
  for (const [pattern, lo, hi] of [
    ['solid', 0, 0],
    ['striped', 0.4, 0.6],
    ['dotted', 0.15, 0.45],
  ] as const) {
    const o = object({ pattern, cx: 60, cy: 60, radius: 50 });
    const { image, labels } = renderScene({ size: 120, background: plain, objects: [o] });
    let inside = 0;
    let shaded = 0;
    for (let i = 0; i < labels.length; i++) {
      if (!labels[i]) continue;
      inside++;
      if (image.data[i * 3] === o.shade[0] && image.data[i * 3 + 2] === o.shade[2]) shaded++;
      assert.equal(nearestColour(image.data[i * 3]!, image.data[i * 3 + 1]!, image.data[i * 3 + 2]!), 'blue');
    }
    assert.ok(shaded / inside >= lo && shaded / inside <= hi, `${pattern}: ${shaded}/${inside}`);
  }
});

test('backgrounds: each style renders, deterministically, with the expected structure', () => {
  const styles: Background['style'][] = ['plain', 'gradient', 'noise', 'radial', 'checker'];
  const distinct = new Map<string, number>();
  for (const style of styles) {
    const bg: Background = { ...plain, style, colourA: [200, 200, 190], colourB: [100, 110, 100], scale: 16, seed: 9 };
    const x = renderScene({ size: 64, background: bg, objects: [] }).image.data;
    assert.deepEqual(x, renderScene({ size: 64, background: bg, objects: [] }).image.data);
    distinct.set(style, new Set(Array.from({ length: 64 * 64 }, (_, i) => x[i * 3])).size);
  }
  assert.equal(distinct.get('plain'), 1);
  assert.equal(distinct.get('checker'), 2);
  assert.ok(distinct.get('gradient')! > 20);
  assert.ok(distinct.get('noise')! > 20);
  assert.ok(distinct.get('radial')! > 20);
  assert.throws(() => renderScene({ size: 4, background: plain, objects: [] }), /size/);
});

test("PNG codec: grey round trip, and sharp's RGB PNGs with every filter decode exactly", async () => {
  const grey = Uint8Array.from({ length: 37 * 23 }, (_, i) => (i * 7) % 256);
  const g = decodePng(encodeGrayPng(grey, 37, 23));
  assert.deepEqual([g.width, g.height, g.channels], [37, 23, 1]);
  assert.deepEqual(g.data, grey);
  const rgb = Uint8Array.from({ length: 50 * 40 * 3 }, (_, i) => ((i * 31) ^ (i >> 5)) & 255);
  const png = await sharp(Buffer.from(rgb), { raw: { width: 50, height: 40, channels: 3 } })
    .png({ adaptiveFiltering: true })
    .toBuffer();
  const d = decodePng(png);
  assert.deepEqual([d.width, d.height, d.channels], [50, 40, 3]);
  assert.deepEqual(d.data, rgb);
  // Every filter type (row y uses filter y % 5), RGBA, written by this test's own encoder.
  const rgba = Uint8Array.from({ length: 9 * 10 * 4 }, (_, i) => (i * 13 + (i >> 4) * 5) & 255);
  const mine = decodePng(filteredPng(rgba, 9, 10, 4));
  assert.equal(mine.channels, 4);
  assert.deepEqual(mine.data, rgba);
  assert.throws(() => decodePng(Uint8Array.from([1, 2, 3])), /not a PNG/);
  assert.throws(() => encodeGrayPng(grey, 10, 10), /expected 100 bytes/);
});

/** A PNG (colour type 6 when channels = 4) whose row y uses filter type y % 5. */
function filteredPng(data: Uint8Array, width: number, height: number, channels: number): Buffer {
  const stride = width * channels;
  const raw = Buffer.alloc((stride + 1) * height);
  for (let y = 0; y < height; y++) {
    const f = y % 5;
    raw[y * (stride + 1)] = f;
    for (let i = 0; i < stride; i++) {
      const x = data[y * stride + i]!;
      const a = i >= channels ? data[y * stride + i - channels]! : 0;
      const b = y > 0 ? data[(y - 1) * stride + i]! : 0;
      const c = y > 0 && i >= channels ? data[(y - 1) * stride + i - channels]! : 0;
      const p = a + b - c;
      const paeth = Math.abs(p - a) <= Math.abs(p - b) && Math.abs(p - a) <= Math.abs(p - c) ? a : Math.abs(p - b) <= Math.abs(p - c) ? b : c;
      const pred = [0, a, b, (a + b) >> 1, paeth][f]!;
      raw[y * (stride + 1) + 1 + i] = (x - pred) & 255;
    }
  }
  const chunk = (type: string, body: Buffer): Buffer => {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(body.length, 0);
    head.write(type, 4, 'latin1');
    return Buffer.concat([head, body, Buffer.alloc(4)]); // the decoder does not check CRCs
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;
  ihdr[9] = channels === 4 ? 6 : channels === 3 ? 2 : 0;
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}
