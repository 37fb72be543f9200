/**
 * `salf-cbm concepts generate|filter` end to end. The generator talks to a local
 * chat-completions server started here; the filter runs on the tiny random-weight CLIP and a tiny
 * sentence model (plumbing: decisions that do not depend on similarity values are asserted, the
 * rest by invariants). The CLI runs as a child process without blocking this one, so the server
 * can answer.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeColourDataset } from '../helpers/colour-dataset.js';
import { repoRoot, tempDir } from '../helpers/paths.js';
import { writeTinyClip } from '../helpers/tiny-clip.js';
import { askedAbout, completion, deadPort, startChatServer, type ChatServer } from './chat-server.js';
import { writeTinySentenceModel } from './tiny-sentence-model.js';

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI asynchronously with the given environment additions (undefined removes a variable). */
function cli(args: string[], env: Record<string, string | undefined> = {}): Promise<Run> {
  const compiled = fileURLToPath(import.meta.url).endsWith('.js');
  const root = repoRoot();
  const entry = compiled ? join(root, 'dist', 'src', 'cli', 'main.js') : join(root, 'src', 'cli', 'main.ts');
  const childEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...process.env, ...env })) if (v !== undefined) childEnv[k] = v;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, compiled ? [entry, ...args] : ['--import', 'tsx', entry, ...args], { cwd: root, env: childEnv });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill(), 120_000);
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

const root = tempDir('salf-concepts-cli-');
const noKey = { OPENAI_API_KEY: undefined, OPENAI_BASE_URL: undefined, OPENAI_MODEL: undefined };
let server: ChatServer;

before(async () => {
  server = await startChatServer(
    (req) => {
      const { cls, prompt } = askedAbout(req);
      const items =
        prompt === 'superclass'
          ? ['colour', `a ${cls}`]
          : prompt === 'around'
            ? ['sky', 'grass', 'a very long concept that is surely over thirty characters']
            : [`${cls} tint`, 'round shape', 'noise'];
      return { body: completion(`Here you go:\n${items.map((i) => `- ${i}`).join('\n')}\n`) };
    },
    { maxRequests: 30 },
  );
});
after(async () => {
  await server.close();
  rmSync(root, { recursive: true, force: true });
});

test("concepts --help lists both subcommands; filter documents LF-CBM's defaults", async () => {
  const top = await cli(['concepts', '--help']);
  assert.equal(top.status, 0);
  assert.match(top.stdout, /\bgenerate\b/);
  assert.match(top.stdout, /\bfilter\b/);
  const f = (await cli(['concepts', 'filter', '--help'])).stdout.replace(/\s+/g, ' ');
  assert.match(f, /--max-length <n>.*\(default: 30\)/);
  assert.match(f, /--class-similarity <x>.*\(default: 0\.85\)/);
  assert.match(f, /--duplicate-similarity <x>.*\(default: 0\.9\)/);
  assert.match(f, /--clip-cutoff <x>.*\(default: 0\.25\)/);
});

test('concepts generate: bad input and a down endpoint are clear errors', async () => {
  const empty = join(root, 'empty.txt');
  writeFileSync(empty, '# none\n\n');
  const dup = join(root, 'dup.txt');
  writeFileSync(dup, 'cat\ndog\n cat\n');
  const ok = join(root, 'ok.txt');
  writeFileSync(ok, 'cat\n');
  const out = join(root, 'x.json');
  const env = { ...noKey, OPENAI_API_KEY: 'k', OPENAI_MODEL: 'm', OPENAI_BASE_URL: server.baseUrl };
  const [e1, e2, e3, e4] = await Promise.all([
    cli(['concepts', 'generate', '--classes', empty, '--out', out], env),
    cli(['concepts', 'generate', '--classes', dup, '--out', out], env),
    cli(['concepts', 'generate', '--classes', ok, '--out', out], { ...env, OPENAI_API_KEY: undefined }),
    deadPort().then((port) =>
      cli(['concepts', 'generate', '--classes', ok, '--out', out, '--base-url', `http://127.0.0.1:${port}/v1`, '--retries', '1', '--backoff-ms', '5'], env),
    ),
  ]);
  assert.notEqual(e1.status, 0);
  assert.match(e1.stderr, /empty\.txt: no class names/);
  assert.notEqual(e2.status, 0);
  assert.match(e2.stderr, /dup\.txt:3: duplicate class name "cat" \(already on line 1\)/);
  assert.notEqual(e3.status, 0);
  assert.match(e3.stderr, /no API key: set OPENAI_API_KEY/);
  assert.notEqual(e4.status, 0);
  assert.match(e4.stderr, /cannot reach the endpoint \(ECONNREFUSED\) \(gave up after 2 attempts\)/);
  assert.equal(existsSync(out), false, 'nothing written on failure');
  assert.equal(server.requests.length, 0);
});

test('concepts generate then filter, end to end, with a cached rerun', async () => {
  const classes = join(root, 'classes.txt');
  writeFileSync(classes, 'bluish\nreddish\n');
  const raw = join(root, 'gen', 'raw.json');
  const env = { ...noKey, OPENAI_API_KEY: 'sk-local' };
  const g = await cli(
    [
      'concepts',
      'generate',
      '--classes',
      classes,
      '--out',
      raw,
      '--base-url',
      server.baseUrl,
      '--model',
      'local-model',
      '--samples',
      '1',
      '--concurrency',
      '2',
    ],
    env,
  );
  assert.equal(g.status, 0, g.stderr);
  assert.match(g.stdout, /for 2 classes \(6 answers asked, 0 from the cache\)/);
  assert.equal(server.requests.length, 6);
  assert.equal(server.requests[0]!.body.model, 'local-model');
  const json = JSON.parse(readFileSync(raw, 'utf8'));
  assert.equal(json.format, 'salf-cbm/raw-concepts');
  assert.deepEqual(json.classes, ['bluish', 'reddish']);
  assert.deepEqual(json.perClass[1].concepts, {
    important: ['noise', 'reddish tint', 'round shape'],
    superclass: ['a reddish', 'colour'],
    around: ['a very long concept that is surely over thirty characters', 'grass', 'sky'],
  });
  const again = await cli(
    ['concepts', 'generate', '--classes', classes, '--out', raw, '--base-url', server.baseUrl, '--model', 'local-model', '--samples', '1'],
    env,
  );
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stdout, /\(0 answers asked, 6 from the cache\)/);
  assert.equal(server.requests.length, 6, 'the rerun costs nothing');

  await writeColourDataset(join(root, 'data'), 6, 32);
  await writeTinyClip(join(root, 'clip'), { inputSize: 32 });
  const st = await writeTinySentenceModel(join(root, 'st'));
  const out = join(root, 'filtered', 'concepts.txt');
  const f = await cli([
    'concepts',
    'filter',
    '--concepts',
    raw,
    '--clip',
    join(root, 'clip'),
    '--data',
    join(root, 'data'),
    '--sentence-model',
    st.dir,
    '--out',
    out,
    '--clip-cutoff',
    '-1',
  ]);
  assert.equal(f.status, 0, f.stderr);
  const report = JSON.parse(readFileSync(join(root, 'filtered', 'concepts.report.json'), 'utf8'));
  assert.equal(report.format, 'salf-cbm/concept-report');
  assert.equal(report.given, 10);
  assert.deepEqual(
    report.stages.map((s: { stage: string }) => s.stage),
    ['length', 'class-similarity', 'near-duplicate', 'absent-from-data'],
  );
  assert.deepEqual(report.stages[0].dropped, [{ concept: 'a very long concept that is surely over thirty characters', value: 57 }]);
  const textMatches = report.stages[1].dropped.filter((d: { note?: string }) => d.note === 'text match').map((d: { concept: string }) => d.concept);
  assert.deepEqual(textMatches, ['a bluish', 'a reddish']);
  assert.match(report.stages[1].measure, /sentence \+ 3 × CLIP/);
  assert.equal(report.settings.images, 10, '6 images per class less a 10% validation hold-out, as train splits them');
  assert.equal(report.stages[3].dropped.length, 0, 'a cutoff of -1 keeps everything');
  const lines = readFileSync(out, 'utf8')
    .split('\n')
    .filter((l) => l !== '');
  assert.deepEqual(lines, report.kept);
  const decided = [...report.kept, ...report.stages.flatMap((s: { dropped: { concept: string }[] }) => s.dropped.map((d) => d.concept))].sort();
  assert.equal(decided.length, 10, 'every concept kept or dropped once');
  assert.match(f.stdout, /concepts: 10 given, \d+ kept/);

  // Cosines never exceed 1: a cutoff above it drops every concept that reaches the image filter.
  const all = await cli([
    'concepts',
    'filter',
    '--concepts',
    raw,
    '--classes',
    classes,
    '--clip',
    join(root, 'clip'),
    '--data',
    join(root, 'data'),
    '--out',
    join(root, 'none.txt'),
    '--report',
    join(root, 'none.json'),
    '--clip-cutoff',
    '1.01',
    '--max-length',
    '100',
  ]);
  assert.equal(all.status, 0, all.stderr);
  const none = JSON.parse(readFileSync(join(root, 'none.json'), 'utf8'));
  assert.deepEqual(none.kept, []);
  assert.equal(none.stages[0].dropped.length, 0);
  assert.equal(none.stages[3].dropped.length, none.stages[3].input);
  assert.ok(none.stages[3].input > 0);
  assert.match(all.stderr, /every concept was dropped/);
  assert.equal(readFileSync(join(root, 'none.txt'), 'utf8'), '');

  // A plain list records no class names.
  writeFileSync(join(root, 'plain.txt'), 'sky\ngrass\n');
  const plain = await cli(['concepts', 'filter', '--concepts', join(root, 'plain.txt'), '--clip', join(root, 'clip'), '--out', join(root, 'p.txt')]);
  assert.notEqual(plain.status, 0);
  assert.match(plain.stderr, /plain\.txt: a plain concept list records no class names; pass --classes/);
});
