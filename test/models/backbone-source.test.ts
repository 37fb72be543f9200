/**
 * Backbones by local file, folder or hub id. Hub ids are resolved offline from folders in the
 * transformers.js layout (env.localModelPath and env.cacheDir, remote models disabled), and
 * downloaded through transformers.js from a local HTTP server standing in for the hub.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { env as hfEnv } from '@huggingface/transformers';
import { resolveBackboneModel } from '../../src/models/backbone-source.js';
import { findFeatureTensorInFile } from '../../src/models/feature-tensor.js';
import { writeTinyCnn } from '../helpers/tiny-backbones.js';
import { tempDir } from '../helpers/paths.js';

const saved = { cacheDir: hfEnv.cacheDir, localModelPath: hfEnv.localModelPath, allowRemoteModels: hfEnv.allowRemoteModels, remoteHost: hfEnv.remoteHost };
after(() => Object.assign(hfEnv, saved));

/** A model folder in the hub layout: config.json and onnx/model.onnx (a tiny random CNN). */
function hubFolder(dir: string): string {
  const model = join(dir, 'onnx', 'model.onnx');
  mkdirSync(dirname(model), { recursive: true });
  writeTinyCnn(model);
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ model_type: 'resnet', architectures: ['ResNetForImageClassification'] }));
  return model;
}

test('a local .onnx file is itself; a folder gives its onnx/model.onnx', async () => {
  const root = tempDir('salf-bb-src-');
  const model = hubFolder(join(root, 'folder'));
  assert.equal(await resolveBackboneModel(model), model);
  assert.equal(await resolveBackboneModel(join(root, 'folder')), model);
  await assert.rejects(resolveBackboneModel(join(root, 'missing')), /no such file or folder/);
});

test('offline, a hub id is found in env.cacheDir or env.localModelPath, and its feature tensor found', async () => {
  const root = tempDir('salf-bb-hub-');
  hfEnv.allowRemoteModels = false;
  hfEnv.cacheDir = join(root, 'cache');
  hfEnv.localModelPath = join(root, 'local');
  const cached = hubFolder(join(root, 'cache', 'acme', 'tiny-cnn'));
  assert.equal(await resolveBackboneModel('acme/tiny-cnn'), cached);
  assert.equal(findFeatureTensorInFile(cached).featureTensor, 'features');
  const local = hubFolder(join(root, 'local', 'acme', 'other-cnn'));
  assert.equal(await resolveBackboneModel('acme/other-cnn'), local);
  await assert.rejects(
    resolveBackboneModel('acme/absent'),
    (err: Error) =>
      err.message.includes('"acme/absent"') &&
      err.message.includes(join(root, 'cache', 'acme', 'absent')) &&
      err.message.includes('remote models are disabled'),
  );
});

test('online, a hub id is downloaded by transformers.js into its cache (a local server as the hub)', async () => {
  const root = tempDir('salf-bb-dl-');
  const repo = join(root, 'repo');
  const model = hubFolder(repo);
  const served: string[] = [];
  const server = createServer((req, res) => {
    const url = decodeURIComponent(req.url ?? '');
    served.push(url);
    const m = url.match(/^\/acme\/tiny-cnn\/resolve\/main\/(.+)$/);
    try {
      if (!m) throw new Error('not found');
      const body = readFileSync(join(repo, m[1]!));
      res.writeHead(200, { 'content-length': body.length }).end(req.method === 'HEAD' ? undefined : body);
    } catch {
      res.writeHead(404).end();
    }
  });
  const port = await new Promise<number>((ok) => server.listen(0, '127.0.0.1', () => ok((server.address() as { port: number }).port)));
  try {
    Object.assign(hfEnv, {
      allowRemoteModels: true,
      remoteHost: `http://127.0.0.1:${port}/`,
      cacheDir: join(root, 'cache'),
      localModelPath: join(root, 'none'),
    });
    const path = await resolveBackboneModel('acme/tiny-cnn');
    assert.equal(path, join(root, 'cache', 'acme', 'tiny-cnn', 'onnx', 'model.onnx'));
    assert.deepEqual(readFileSync(path), readFileSync(model));
    assert.ok(served.some((u) => u.endsWith('/onnx/model.onnx')));
    // Cached now: found again without asking the server.
    const before = served.length;
    assert.equal(await resolveBackboneModel('acme/tiny-cnn'), path);
    assert.equal(served.length, before);
  } finally {
    server.close();
  }
});
