/**
 * The chat client's resource bounds: an answer body past the size limit is abandoned while it
 * streams (declared or not), a `Retry-After` over the per-wait limit fails at once, and the
 * waits of one request stay under the total limit; every error says which flag raises it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { repoRoot, tempDir } from '../helpers/paths.js';
import type { AddressInfo } from 'node:net';
import { ChatClient } from '../../src/concepts/chat-client.js';
import { completion, startChatServer } from './chat-server.js';

const ask = { messages: [{ role: 'user' as const, content: 'x' }] };

test('an endless answer is abandoned past the size limit, having read little more than the limit', async () => {
  let sent = 0;
  let closed!: (bytesSent: number) => void;
  const sentAtClose = new Promise<number>((ok) => (closed = ok));
  const chunk = Buffer.alloc(64 * 1024, 'a');
  const server = createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'Content-Type': 'application/json' });
    // Up to 512 MiB, chunked, no Content-Length; stops when the client goes away.
    const pump = (): void => {
      while (sent < 512 * 2 ** 20) {
        if (res.destroyed) return;
        sent += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
      res.end();
    };
    res.on('close', () => closed(sent));
    pump();
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  try {
    const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
    const client = new ChatClient({ baseUrl, apiKey: 'k', model: 'm', maxResponseBytes: 2 ** 20, maxRetries: 3, sleep: async () => undefined });
    await assert.rejects(client.complete(ask), /the answer \(more than \d+ bytes so far\) is over the limit of 1048576 bytes; raise it with --max-response-mb/);
    // The connection closes when the client hangs up (or, had it read everything, after 512 MiB).
    const bytes = await sentAtClose;
    assert.ok(bytes < 64 * 2 ** 20, `sent ${bytes} bytes before the client hung up`);
  } finally {
    server.closeAllConnections();
    await new Promise((ok) => server.close(ok));
  }
});

test('an answer over the limit is not retried; one declaring its length over the limit is refused from the header', async () => {
  const server = await startChatServer(() => ({ body: completion('x'.repeat(5000)) }), { maxRequests: 5 });
  try {
    const client = new ChatClient({ baseUrl: server.baseUrl, apiKey: 'k', model: 'm', maxResponseBytes: 1000, sleep: async () => undefined });
    await assert.rejects(client.complete(ask), /the answer \(more than \d+ bytes so far\) is over the limit of 1000 bytes/);
    assert.equal(server.requests.length, 1);
  } finally {
    await server.close();
  }
  // Declares 5 MB, sends 10 bytes, and would keep the connection open.
  const declaring = createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': 5_000_000 });
    res.write('{"choices"');
  });
  await new Promise<void>((ok) => declaring.listen(0, '127.0.0.1', ok));
  try {
    const baseUrl = `http://127.0.0.1:${(declaring.address() as AddressInfo).port}/v1`;
    const client = new ChatClient({ baseUrl, apiKey: 'k', model: 'm', maxResponseBytes: 1000, timeoutMs: 30_000 });
    await assert.rejects(client.complete(ask), /the answer of 5000000 bytes is over the limit of 1000 bytes/);
  } finally {
    declaring.closeAllConnections();
    await new Promise((ok) => declaring.close(ok));
  }
});

test('a Retry-After over the per-wait limit fails at once; waits that would pass the total limit end the retries', async () => {
  const long = await startChatServer(() => ({ status: 429, body: '{"error":{"message":"slow down"}}', headers: { 'retry-after': '3600' } }), {
    maxRequests: 5,
  });
  try {
    const waits: number[] = [];
    const client = new ChatClient({ baseUrl: long.baseUrl, apiKey: 'k', model: 'm', sleep: async (ms) => void waits.push(ms) });
    await assert.rejects(
      client.complete(ask),
      /rate limited, HTTP 429: slow down \(the server asks to wait 3600 s before retrying, over the limit of 30 s per wait; raise it with --max-wait-ms\)/,
    );
    assert.deepEqual(waits, []);
    assert.equal(long.requests.length, 1);
  } finally {
    await long.close();
  }
  const steady = await startChatServer(() => ({ status: 429, body: '{"error":{"message":"busy"}}', headers: { 'retry-after-ms': '20000' } }), {
    maxRequests: 10,
  });
  try {
    const waits: number[] = [];
    const client = new ChatClient({ baseUrl: steady.baseUrl, apiKey: 'k', model: 'm', maxRetries: 8, sleep: async (ms) => void waits.push(ms) });
    await assert.rejects(
      client.complete(ask),
      /gave up after 4 attempts: waiting 20 s more would pass the limit of 60 s of waits per request; raise it with --max-total-wait-ms/,
    );
    assert.deepEqual(waits, [20_000, 20_000, 20_000]);
    assert.equal(steady.requests.length, 4);
  } finally {
    await steady.close();
  }
});

test('`concepts generate --max-response-mb` sets the answer limit; the error names the flag and nothing is written', async () => {
  const server = await startChatServer(() => ({ body: completion(`- ${'long '.repeat(1000)}`) }), { maxRequests: 20 });
  const dir = tempDir('salf-chat-limit-cli-');
  const classes = join(dir, 'classes.txt');
  writeFileSync(classes, 'cat\n');
  const out = join(dir, 'raw.json');
  try {
    const compiled = fileURLToPath(import.meta.url).endsWith('.js');
    const entry = join(repoRoot(), compiled ? 'dist/src/cli/main.js' : 'src/cli/main.ts');
    const args = ['concepts', 'generate', '--classes', classes, '--out', out, '--base-url', server.baseUrl, '--model', 'm', '--max-response-mb', '0.001'];
    const run = await new Promise<{ status: number | null; stderr: string }>((ok, bad) => {
      const child = spawn(process.execPath, compiled ? [entry, ...args] : ['--import', 'tsx', entry, ...args], {
        env: { ...process.env, OPENAI_API_KEY: 'k' },
      });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('error', bad);
      child.on('close', (status) => ok({ status, stderr }));
    });
    assert.notEqual(run.status, 0);
    assert.match(run.stderr, /is over the limit of 1048 bytes; raise it with --max-response-mb/);
    assert.equal(existsSync(out), false);
  } finally {
    await server.close();
  }
});
