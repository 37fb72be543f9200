/**
 * The explorer's server: what it serves (page, ONNX Runtime Web, model, classifier blob, image
 * folder) and what it refuses (paths outside, files over the limit, other methods, foreign Host
 * headers); model directories exported on the fly and cached; `salf-cbm serve` prints its address.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { colourModel } from '../explain/colour-model.js';
import { tempDir } from '../helpers/paths.js';
import { openServedModel } from '../../src/serve/model-source.js';
import { startExplorerServer, type ExplorerServer } from '../../src/serve/server.js';
import { decodeHead } from '../../src/web/core/head.js';
import type { ExplorerManifest, ImageList } from '../../src/web/core/manifest.js';
import { explorerFixture } from '../helpers/explorer-fixture.js';
import { startServe } from '../helpers/serve-process.js';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** One raw request (the path is sent exactly as given, unnormalised). */
function get(server: ExplorerServer, path: string, options: { method?: string; host?: string } = {}): Promise<Reply> {
  return new Promise((ok, bad) => {
    const req = request(
      { host: '127.0.0.1', port: server.port, path, method: options.method ?? 'GET', headers: { host: options.host ?? `127.0.0.1:${server.port}` } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => ok({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      },
    );
    req.on('error', bad);
    req.end();
  });
}

test('the server sends the page, ONNX Runtime Web, the model and its classifier, and the image folder', async () => {
  const fx = await explorerFixture(tempDir('salf-serve-'));
  const model = await openServedModel(fx.onnx);
  const server = await startExplorerServer({ model, imagesDir: fx.images });
  try {
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    const page = await get(server, '/');
    assert.equal(page.status, 200);
    assert.match(String(page.headers['content-type']), /text\/html/);
    assert.match(String(page.headers['content-security-policy']), /default-src 'self'/);
    assert.equal(page.headers['cross-origin-opener-policy'], 'same-origin');
    assert.equal(page.headers['cross-origin-embedder-policy'], 'require-corp');
    assert.match(page.body.toString(), /<script type="module" src="\/app\/app\.js">/);
    // Every script, style and font the page names is local.
    assert.doesNotMatch(page.body.toString(), /(src|href)="(https?:)?\/\//);
    const app = await get(server, '/app/app.js');
    assert.equal(app.status, 200);
    assert.match(String(app.headers['content-type']), /javascript/);
    const ort = await get(server, '/ort/ort.webgpu.min.mjs');
    assert.equal(ort.status, 200);
    assert.ok(ort.body.length > 10_000);
    const wasm = await get(server, '/ort/ort-wasm-simd-threaded.asyncify.wasm', { method: 'HEAD' });
    assert.equal(wasm.status, 200);
    assert.equal(wasm.headers['content-type'], 'application/wasm');
    assert.equal(wasm.body.length, 0);

    const manifest = JSON.parse((await get(server, '/api/model')).body.toString()) as ExplorerManifest;
    assert.deepEqual(manifest.info.concepts, ['red', 'green', 'blue', 'bright']);
    assert.deepEqual(manifest.info.classes, ['reddish', 'bluish', 'greenish']);
    assert.equal(manifest.images, true);
    const onnx = await get(server, manifest.model.url);
    assert.deepEqual(onnx.body, readFileSync(fx.onnx));
    const head = decodeHead((await get(server, manifest.head.url)).body, 4, 3);
    assert.deepEqual(Array.from(head.finalWeight), [2, 0, -1, 0, -1, 0, 2, 0, 0, 2, 0, 0]);
    assert.deepEqual(Array.from(head.std), [0.5, 0.5, 0.5, 0.5]);

    const list = JSON.parse((await get(server, '/api/images')).body.toString()) as ImageList;
    assert.deepEqual(
      list.images.map((i) => i.path),
      ['more/green.png', 'scene.png'],
    );
    const img = await get(server, '/images/scene.png');
    assert.equal(img.status, 200);
    assert.equal(img.headers['content-type'], 'image/png');
    assert.deepEqual(img.body, readFileSync(fx.scene));
    assert.equal((await get(server, '/images/more/green.png')).status, 200);
  } finally {
    await server.close();
  }
});

test('the server refuses paths outside what it serves, files over the size limit, other methods and foreign hosts', async () => {
  const fx = await explorerFixture(tempDir('salf-serve-refuse-'));
  writeFileSync(join(fx.dir, 'secret.png'), 'not for the page');
  writeFileSync(join(fx.images, 'notes.txt'), 'text');
  writeFileSync(join(fx.images, 'big.png'), Buffer.alloc(5000));
  symlinkSync(join(fx.dir, 'secret.png'), join(fx.images, 'link.png'));
  mkdirSync(join(fx.images, '.hidden'));
  writeFileSync(join(fx.images, '.hidden', 'x.png'), 'x');
  const model = await openServedModel(fx.onnx);
  const server = await startExplorerServer({ model, imagesDir: fx.images, maxImageBytes: 4096 });
  try {
    const refused: [string, number][] = [
      ['/images/../secret.png', 403],
      ['/images/..%2Fsecret.png', 403],
      ['/images/%2e%2e/secret.png', 403],
      ['/images/more/..%2F..%2Fsecret.png', 403],
      ['/images/link.png', 403], // a symbolic link leading out of the folder
      ['/images/.hidden/x.png', 403],
      ['/images/notes.txt', 403], // not an image
      ['/images/big.png', 413], // over the limit
      ['/images/missing.png', 404],
      ['/images//etc/passwd.png', 403],
      ['/app/../../package.json', 403],
      ['/app/..%2F..%2Fpackage.json', 403],
      ['/ort/..%2Fpackage.json', 404],
      ['/ort/ort.node.min.js', 404], // only the browser's .mjs and .wasm files
      ['/etc/passwd', 404],
      ['//etc/passwd', 404],
      ['/images/./scene.png', 403],
    ];
    for (const [path, status] of refused) {
      const r = await get(server, path);
      assert.equal(r.status, status, `${path}: ${r.status} ${r.body.toString().trim()}`);
      assert.doesNotMatch(r.body.toString(), /not for the page/);
    }
    assert.equal((await get(server, '/images/scene.png')).status, 200);
    const post = await get(server, '/api/model', { method: 'POST' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.allow, 'GET, HEAD');
    assert.equal((await get(server, '/', { host: 'attacker.example:80' })).status, 421);
    assert.equal((await get(server, '/', { host: 'localhost' })).status, 200);
    const list = JSON.parse((await get(server, '/api/images')).body.toString()) as ImageList;
    assert.ok(!list.images.some((i) => i.path.includes('.hidden') || i.path.endsWith('.txt')));
  } finally {
    await server.close();
  }
  // Without an image folder there are no images to get.
  const bare = await startExplorerServer({ model });
  try {
    assert.equal((await get(bare, '/images/scene.png')).status, 404);
    assert.deepEqual(JSON.parse((await get(bare, '/api/images')).body.toString()), { images: [], truncated: false, skipped: 0 });
  } finally {
    await bare.close();
  }
});

test("a model directory is exported on the fly, then reused while the model files' contents are unchanged", async () => {
  const dir = tempDir('salf-serve-dir-');
  const modelDir = join(dir, 'model');
  mkdirSync(modelDir);
  colourModel(dir).save(modelDir);
  const first = await openServedModel(modelDir);
  assert.equal(first.onnxPath, join(modelDir, 'export', 'model.onnx'));
  assert.match(first.notes.join('\n'), /exported the model to/);
  assert.deepEqual(first.info.concepts, ['red', 'green', 'blue', 'bright']);
  const again = await openServedModel(modelDir);
  assert.match(again.notes.join('\n'), /using the export/);
  // A touched file with the same bytes is not a change (test/serve/model-source.test.ts covers changed bytes).
  const later = new Date(Date.now() + 5000);
  utimesSync(join(modelDir, 'weights.safetensors'), later, later);
  assert.match((await openServedModel(modelDir)).notes.join('\n'), /using the export/);
  const changed = await openServedModel(modelDir, { exportDir: join(dir, 'elsewhere') });
  assert.match(changed.notes.join('\n'), /exported the model to .*elsewhere/);
  await assert.rejects(openServedModel(join(dir, 'nothing')), /model not found/);
  await assert.rejects(openServedModel(dir), /not a SALF-CBM model directory/);
});

test('`salf-cbm serve` prints its loopback address and serves until stopped', async () => {
  const fx = await explorerFixture(tempDir('salf-serve-cli-'));
  const proc = await startServe([fx.onnx, '--port', '0', '--images', fx.images]);
  try {
    assert.match(proc.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    const res = await fetch(new URL('/api/model', proc.url));
    assert.equal(res.status, 200);
    const m = (await res.json()) as ExplorerManifest;
    assert.equal(m.name, 'colour');
    assert.match(proc.output(), /4 concepts, 3 classes, grid 4×4, input 64 px/);
  } finally {
    assert.equal(await proc.stop(), 0);
  }
  await assert.rejects(startServe([fx.onnx, '--port', '0', '--images', join(fx.dir, 'none')]), /image folder not found/);
});
