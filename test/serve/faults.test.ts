/**
 * Faults in `salf-cbm serve`: an image folder that changes while it is listed (files removed
 * between the listing and their measurement, unreadable sub-folders, FIFOs, dangling links), a
 * handler that throws or rejects, and the Host check's spelling of loopback names. No request may
 * end the server; every answer is a whole HTTP response.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { Agent, createServer, request } from 'node:http';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { tempDir } from '../helpers/paths.js';
import { explorerFixture } from '../helpers/explorer-fixture.js';
import { listImages } from '../../src/serve/files.js';
import { openServedModel } from '../../src/serve/model-source.js';
import { hostHeaderName, isolateFailures, startExplorerServer } from '../../src/serve/server.js';

const fs = createRequire(import.meta.url)('node:fs') as typeof import('node:fs');
const isRoot = process.getuid?.() === 0;

/**
 * Runs `body` with `readdirSync` replaced by `hooked` (ES-module importers included), restoring
 * the original after. This is how a file can be removed exactly between a folder's listing and
 * its measurement, and how root (whom permissions do not stop) meets an unreadable folder.
 */
async function withReaddir<T>(hooked: (real: typeof fs.readdirSync) => typeof fs.readdirSync, body: () => Promise<T> | T): Promise<T> {
  const real = fs.readdirSync;
  fs.readdirSync = hooked(real);
  syncBuiltinESMExports();
  try {
    return await body();
  } finally {
    fs.readdirSync = real;
    syncBuiltinESMExports();
  }
}

function eacces(path: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`EACCES: permission denied, scandir '${path}'`), { code: 'EACCES' });
}

/** Makes `dir` unreadable: mode 000 for an ordinary user; for root, its listing fails through the hook. */
function lockedDirHook(dir: string): (real: typeof fs.readdirSync) => typeof fs.readdirSync {
  return (real) =>
    ((p: string, ...rest: unknown[]) => {
      if (isRoot && String(p) === dir) throw eacces(dir);
      return (real as (...a: unknown[]) => unknown)(p, ...rest);
    }) as typeof fs.readdirSync;
}

test('a file removed between listing and measuring, and an unreadable sub-folder, are skipped and counted', async () => {
  const dir = tempDir('salf-list-faults-');
  writeFileSync(join(dir, 'a.png'), 'a');
  writeFileSync(join(dir, 'gone.png'), 'g');
  mkdirSync(join(dir, 'locked'));
  writeFileSync(join(dir, 'locked', 'x.png'), 'x');
  // Listable but not searchable: its names can be read, its files cannot be measured.
  mkdirSync(join(dir, 'half'));
  writeFileSync(join(dir, 'half', 'y.png'), 'y');
  if (!isRoot) {
    chmodSync(join(dir, 'locked'), 0o000);
    chmodSync(join(dir, 'half'), 0o644);
  }
  try {
    const listing = await withReaddir(
      (real) => {
        const locked = lockedDirHook(join(dir, 'locked'))(real);
        return ((p: string, ...rest: unknown[]) => {
          const entries = (locked as (...a: unknown[]) => unknown)(p, ...rest);
          if (String(p) === dir) rmSync(join(dir, 'gone.png'), { force: true });
          return entries;
        }) as typeof fs.readdirSync;
      },
      () => listImages(dir),
    );
    const expected = isRoot ? ['a.png', 'half/y.png'] : ['a.png'];
    assert.deepEqual(
      listing.images.map((i) => i.path),
      expected,
    );
    assert.equal(listing.truncated, false);
    // gone.png and locked/ (and, for an ordinary user, half/y.png).
    assert.equal(listing.skipped, isRoot ? 2 : 3);
  } finally {
    if (!isRoot) {
      chmodSync(join(dir, 'locked'), 0o755);
      chmodSync(join(dir, 'half'), 0o755);
    }
  }
});

test('a handler that throws or rejects answers 500 with a JSON error, and the server goes on', async () => {
  const reported: string[] = [];
  const server = createServer(
    isolateFailures(
      async (req, res) => {
        if (req.url === '/throw') throw new Error('thrown inside');
        if (req.url === '/reject') return Promise.reject(new Error('rejected inside'));
        if (req.url === '/late') {
          res.writeHead(200, { 'Content-Length': 10 });
          res.write('part');
          throw new Error('failed after the answer began');
        }
        res.end('ok');
      },
      (err) => reported.push((err as Error).message),
    ),
  );
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const port = (server.address() as AddressInfo).port;
  try {
    for (const path of ['/throw', '/reject']) {
      const res = await fetch(`http://127.0.0.1:${port}${path}`);
      assert.equal(res.status, 500);
      assert.match(res.headers.get('content-type') ?? '', /application\/json/);
      const body = (await res.json()) as { error: string; detail: string };
      assert.equal(body.error, 'internal server error');
      assert.match(body.detail, /inside/);
    }
    // An answer already begun is cut (the client sees an incomplete body), never completed as if fine.
    await assert.rejects(fetch(`http://127.0.0.1:${port}/late`).then((r) => r.text()));
    assert.equal(await (await fetch(`http://127.0.0.1:${port}/fine`)).text(), 'ok');
    assert.deepEqual(reported, ['thrown inside', 'rejected inside', 'failed after the answer began']);
  } finally {
    server.closeAllConnections();
    await new Promise((ok) => server.close(ok));
  }
});

test('Host headers naming loopback are matched whatever their case, with or without a port', () => {
  for (const [header, name] of [
    ['LOCALHOST:8000', 'localhost'],
    ['LocalHost', 'localhost'],
    ['127.0.0.1:8000', '127.0.0.1'],
    ['[::1]:8000', '[::1]'],
    ['Example.COM', 'example.com'],
  ] as const) {
    assert.equal(hostHeaderName(header), name, header);
  }
  for (const bad of ['', 'localhost:99999', 'localhost:port', 'localhost@evil.example', 'evil.example/localhost', 'a b']) {
    assert.equal(hostHeaderName(bad), undefined, bad);
  }
});

interface Answer {
  path: string;
  status: number;
  type: string;
  body: Buffer;
  declared?: number;
}

function send(port: number, agent: Agent, path: string, host: string): Promise<Answer> {
  return new Promise((ok, bad) => {
    const req = request({ host: '127.0.0.1', port, path, agent, headers: { host } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', bad);
      res.on('end', () => {
        const declared = res.headers['content-length'];
        ok({
          path,
          status: res.statusCode ?? 0,
          type: String(res.headers['content-type']),
          body: Buffer.concat(chunks),
          declared: declared === undefined ? undefined : Number(declared),
        });
      });
    });
    req.on('error', (err) => bad(new Error(`${path}: ${err.message}`)));
    req.end();
  });
}

test('serve over a folder whose files churn answers 1,000 concurrent requests, each with a whole HTTP response', async () => {
  const fx = await explorerFixture(tempDir('salf-serve-churn-'));
  const churn = join(fx.images, 'churn');
  mkdirSync(churn);
  const locked = join(fx.images, 'locked');
  mkdirSync(locked);
  writeFileSync(join(locked, 'hidden.png'), 'x');
  if (!isRoot) chmodSync(locked, 0o000);
  symlinkSync(join(fx.dir, 'nowhere.png'), join(fx.images, 'dangling.png'));
  execFileSync('mkfifo', [join(fx.images, 'pipe.png')]);
  const model = await openServedModel(fx.onnx);
  const errors: string[] = [];
  const server = await startExplorerServer({ model, imagesDir: fx.images, onRequestError: (err) => errors.push(String(err)) });
  // The churn: files appear and vanish all the time, and every listing loses one right after reading the folder.
  let n = 0;
  const timer = setInterval(() => {
    for (let k = 0; k < 5; k++) {
      writeFileSync(join(churn, `f${n++ % 40}.png`), 'p');
      rmSync(join(churn, `f${(n * 7) % 40}.png`), { force: true });
    }
  }, 1);
  const agent = new Agent({ keepAlive: true, maxSockets: 200 });
  try {
    const answers = await withReaddir(
      (real) => {
        const lockedHook = lockedDirHook(locked)(real);
        return ((p: string, ...rest: unknown[]) => {
          const entries = (lockedHook as (...a: unknown[]) => unknown)(p, ...rest);
          if (String(p) === churn) for (let k = 0; k < 40; k += 3) rmSync(join(churn, `f${k}.png`), { force: true });
          return entries;
        }) as typeof fs.readdirSync;
      },
      () => {
        const paths = [
          '/api/images',
          '/api/images',
          '/api/images',
          '/images/churn/f3.png',
          '/images/churn/f4.png',
          '/images/pipe.png',
          '/images/dangling.png',
          '/images/locked/hidden.png',
          '/images/scene.png',
          '/api/model',
        ];
        return Promise.all(
          Array.from({ length: 1000 }, (_, i) => {
            const host = i % 50 === 0 ? 'evil.example' : i % 2 ? `LOCALHOST:${server.port}` : `127.0.0.1:${server.port}`;
            return send(server.port, agent, paths[i % paths.length]!, host);
          }),
        );
      },
    );
    assert.equal(answers.length, 1000);
    const statuses = new Map<number, number>();
    for (const a of answers) {
      statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
      assert.ok([200, 403, 404, 421].includes(a.status), `${a.path}: ${a.status} ${a.body.toString().slice(0, 200)}`);
      if (a.declared !== undefined) assert.equal(a.body.length, a.declared, `${a.path}: body length`);
      if (a.path === '/api/images' && a.status === 200) {
        const list = JSON.parse(a.body.toString()) as { images: { path: string }[]; skipped: number };
        assert.ok(list.images.some((i) => i.path === 'scene.png'));
        assert.ok(!list.images.some((i) => i.path === 'pipe.png' || i.path === 'dangling.png' || i.path.startsWith('locked/')));
        assert.ok(list.skipped >= 1, 'the locked folder is counted as skipped');
      }
    }
    assert.equal(statuses.get(421), 20, 'the foreign Host headers, and only those, are refused');
    assert.deepEqual(errors, []);
    // Still serving afterwards.
    assert.equal((await send(server.port, agent, '/api/model', `localhost:${server.port}`)).status, 200);
  } finally {
    clearInterval(timer);
    agent.destroy();
    await server.close();
    if (!isRoot) chmodSync(locked, 0o755);
    unlinkSync(join(fx.images, 'pipe.png'));
  }
});
