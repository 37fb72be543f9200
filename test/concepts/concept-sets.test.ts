/**
 * The published concept sets' download path, against a local HTTP server serving files made
 * here (LF-CBM's own files are never shipped): checksum checked, cache hit without a request,
 * mismatch refused and nothing cached, offline error saying which file to put where.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CONCEPT_SETS, LFCBM_BASE_URL, LFCBM_COMMIT, ensureConceptSet, resolveConceptsSource, type ConceptSetInfo } from '../../src/concepts/concept-sets.js';
import { readConceptList } from '../../src/concepts/concept-list.js';
import { tempDir } from '../helpers/paths.js';

const GOOD = 'red wings\nlong beak\nwebbed feet';
const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const sets: Record<string, ConceptSetInfo> = {
  birds: { file: 'birds_filtered.txt', sha256: sha(GOOD), concepts: 3 },
  tampered: { file: 'tampered_filtered.txt', sha256: sha('what was published'), concepts: 1 },
};
const requests: string[] = [];
const server: Server = createServer((req, res) => {
  requests.push(req.url ?? '');
  if (req.url === '/sets/birds_filtered.txt') res.end(GOOD);
  else if (req.url === '/sets/tampered_filtered.txt') res.end('something else');
  else res.writeHead(404).end();
});
const port = await new Promise<number>((ok) => server.listen(0, '127.0.0.1', () => ok((server.address() as { port: number }).port)));
after(() => server.close());
const baseUrl = `http://127.0.0.1:${port}/sets/`;

test("the pinned URLs point at one commit of LF-CBM and the five filtered sets hold the paper's concept counts", () => {
  assert.match(LFCBM_BASE_URL, new RegExp(`^https://raw\\.githubusercontent\\.com/Trustworthy-ML-Lab/Label-free-CBM/${LFCBM_COMMIT}/data/concept_sets/$`));
  assert.match(LFCBM_COMMIT, /^[0-9a-f]{40}$/);
  for (const info of Object.values(CONCEPT_SETS)) assert.match(info.sha256, /^[0-9a-f]{64}$/);
  // SPEC Table 1: 370 (CUB) and 2544 (Places365); LF-CBM's ImageNet file holds 4751 (the paper says 4741).
  assert.equal(CONCEPT_SETS.cub!.concepts, 370);
  assert.equal(CONCEPT_SETS.places365!.concepts, 2544);
});

test('first use downloads and checks the file; a cache hit does not ask the server again', async () => {
  const cacheDir = tempDir('salf-sets-');
  requests.length = 0;
  const path = await ensureConceptSet('birds', { cacheDir, baseUrl, sets });
  assert.equal(path, join(cacheDir, 'concept-sets', 'birds_filtered.txt'));
  assert.equal(readFileSync(path, 'utf8'), GOOD);
  assert.deepEqual(requests, ['/sets/birds_filtered.txt']);
  assert.equal(await ensureConceptSet('birds', { cacheDir, baseUrl, sets }), path);
  assert.equal(requests.length, 1, 'the cached copy is used without a request');
  const concepts = await resolveConceptsSource('lfcbm:birds', readConceptList, { cacheDir, baseUrl, sets });
  assert.deepEqual(concepts, ['red wings', 'long beak', 'webbed feet']);
  assert.equal(requests.length, 1);
});

test('a download with the wrong checksum is refused and not cached', async () => {
  const cacheDir = tempDir('salf-sets-');
  await assert.rejects(
    ensureConceptSet('tampered', { cacheDir, baseUrl, sets }),
    (err: Error) =>
      err.message.includes('tampered_filtered.txt') && err.message.includes(`expected ${sets.tampered!.sha256}`) && err.message.includes('refusing'),
  );
  assert.equal(existsSync(join(cacheDir, 'concept-sets', 'tampered_filtered.txt')), false);
});

test('offline: the error names the URL, the file to put by hand and where', async () => {
  const cacheDir = tempDir('salf-sets-');
  const closed = createServer();
  const deadPort = await new Promise<number>((ok) => closed.listen(0, '127.0.0.1', () => ok((closed.address() as { port: number }).port)));
  await new Promise((ok) => closed.close(ok));
  const where = join(cacheDir, 'concept-sets', 'birds_filtered.txt');
  await assert.rejects(
    ensureConceptSet('birds', { cacheDir, baseUrl: `http://127.0.0.1:${deadPort}/sets/`, sets }),
    (err: Error) =>
      err.message.includes(`http://127.0.0.1:${deadPort}/sets/birds_filtered.txt`) &&
      err.message.includes(`put it at ${where}`) &&
      err.message.includes(sets.birds!.sha256),
  );
});

test('an unknown set name is refused with the closest known name', async () => {
  await assert.rejects(ensureConceptSet('cubb', { cacheDir: tempDir('salf-sets-') }), /no published concept set "cubb".*did you mean cub\?/);
});
