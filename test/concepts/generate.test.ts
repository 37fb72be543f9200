import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ChatClient, completionText, retryAfterMs } from '../../src/concepts/chat-client.js';
import { LF_CBM_PROMPTS, allConcepts, generateConcepts, parseClassNames, parseConceptAnswer } from '../../src/concepts/generate.js';
import { tempDir } from '../helpers/paths.js';
import { askedAbout, completion, deadPort, startChatServer, type RecordedRequest } from './chat-server.js';

const fast = { initialBackoffMs: 5, maxBackoffMs: 50 };

test('answers are split into clean concepts whatever the list style', () => {
  assert.deepEqual(parseConceptAnswer('-bright orange color\n-a small, round body\n- a long, flowing tail\n'), [
    'bright orange color',
    'a small, round body',
    'a long, flowing tail',
  ]);
  assert.deepEqual(
    parseConceptAnswer(
      'Here are the features of a "goldfish":\n\n1. **Orange fins**: used for swimming.\n2) Scales.\n* "Bubbles"\n• Pond\n\nLet me know if you need more!',
    ),
    ['orange fins', 'scales', 'bubbles', 'pond'],
  );
  assert.deepEqual(parseConceptAnswer('fish, vertebrate, animal'), ['fish', 'vertebrate', 'animal']);
  assert.deepEqual(parseConceptAnswer('- Eiffel Tower\n- eiffel tower\n-\n- '), ['eiffel tower']);
  assert.deepEqual(parseConceptAnswer('- Eiffel Tower', { lowercase: false }), ['Eiffel Tower']);
  assert.deepEqual(parseConceptAnswer('I cannot help with that.'), ['i cannot help with that']);
  assert.deepEqual(parseConceptAnswer(''), []);
});

test('class files: an empty file and repeated names are clear errors', () => {
  assert.deepEqual(parseClassNames('# classes\ngoldfish\n\n great  white shark \n'), ['goldfish', 'great white shark']);
  assert.throws(() => parseClassNames('\n# nothing\n  \n', 'classes.txt'), /classes\.txt: no class names/);
  assert.throws(() => parseClassNames('cat\ndog\nCat\n', 'classes.txt'), /classes\.txt:3: duplicate class name "Cat" \(already on line 1\)/);
});

test('Retry-After headers and malformed bodies', () => {
  assert.equal(retryAfterMs(new Headers({ 'retry-after-ms': '250' })), 250);
  assert.equal(retryAfterMs(new Headers({ 'retry-after': '2' })), 2000);
  assert.equal(retryAfterMs(new Headers({ 'retry-after': new Date(10_000).toUTCString() }), 4000), 6000);
  assert.equal(retryAfterMs(new Headers()), undefined);
  assert.equal(completionText(completion('- a'), 'u'), '- a');
  assert.equal(completionText(JSON.stringify({ choices: [{ message: { content: [{ type: 'text', text: '- x' }] } }] }), 'u'), '- x');
  assert.throws(
    () => completionText('<html>gateway</html>', 'u'),
    (e: Error & { retryable?: boolean }) => /malformed answer \(not JSON\)/.test(e.message) && e.retryable === true,
  );
  assert.throws(() => completionText('{"object":"chat.completion"}', 'u'), /malformed answer \(no "choices"\)/);
});

/** Answers per class and prompt, e.g. "- goldfish important 1" (sample number from a counter per pair). */
function scripted(req: RecordedRequest, counts: Map<string, number>): string {
  const { cls, prompt } = askedAbout(req);
  const key = `${cls}/${prompt}`;
  const k = (counts.get(key) ?? 0) + 1;
  counts.set(key, k);
  return completion(`Sure! Here is the list:\n- ${cls} ${prompt} shared\n- ${cls} ${prompt} ${k}\n`);
}

test('generate: LF-CBM prompts, retries on a rate limit and a malformed answer, bounded concurrency, cached reruns', async () => {
  const counts = new Map<string, number>();
  let rateLimited = false;
  let malformed = false;
  const server = await startChatServer(
    (req) => {
      const { cls, prompt } = askedAbout(req);
      if (!rateLimited && cls === 'tench' && prompt === 'around') {
        rateLimited = true;
        return { status: 429, body: JSON.stringify({ error: { message: 'Rate limit reached' } }), headers: { 'retry-after-ms': '5' } };
      }
      if (!malformed && cls === 'goldfish' && prompt === 'superclass') {
        malformed = true;
        return { body: '{"object":"chat.completion","choices":[]' };
      }
      return { body: scripted(req, counts), delayMs: 15 };
    },
    { maxRequests: 40 },
  );
  const tmp = tempDir('salf-gen-');
  const cacheDir = join(tmp, 'cache');
  try {
    const client = new ChatClient({ baseUrl: server.baseUrl, apiKey: 'sk-test', model: 'test-model', ...fast });
    const classes = ['goldfish', 'tench', 'beer glass'];
    const raw = await generateConcepts({ client, classes, concurrency: 2, cacheDir });
    const tasks = classes.length * 3 * 2;
    assert.equal(server.requests.length, tasks + 2, 'one retry for the 429 and one for the malformed answer');
    assert.ok(server.maxInFlight <= 2, `at most 2 requests in flight (saw ${server.maxInFlight})`);
    assert.equal(server.maxInFlight, 2, 'the two workers do run concurrently');
    assert.deepEqual(raw.requests, { fetched: tasks, cached: 0 });
    assert.deepEqual(raw.classes, classes);
    assert.deepEqual(Object.keys(raw.prompts), ['important', 'superclass', 'around']);
    for (const pc of raw.perClass) {
      for (const prompt of ['important', 'superclass', 'around']) {
        // two samples united: the shared item once, plus each sample's own item
        assert.deepEqual(pc.concepts[prompt], [`${pc.class} ${prompt} 1`, `${pc.class} ${prompt} 2`, `${pc.class} ${prompt} shared`]);
      }
    }
    assert.equal(allConcepts(raw).length, classes.length * 3 * 3);
    const first = server.requests[0]!;
    assert.equal(first.authorization, 'Bearer sk-test');
    assert.equal(first.body.model, 'test-model');
    assert.equal(first.body.temperature, 0.7);
    assert.equal(first.body.max_tokens, undefined);
    const user = first.body.messages!.find((m) => m.role === 'user')!.content;
    const { cls, prompt } = askedAbout(first);
    assert.equal(user, LF_CBM_PROMPTS[prompt]!.replaceAll('{class}', cls));
    assert.match(
      user,
      /List the most important features for recognizing something as a "|Give superclasses for the word "|List the things most commonly seen around a "/,
    );
    assert.equal(readdirSync(cacheDir).length, tasks);

    // A rerun asks nothing.
    const again = await generateConcepts({ client, classes, concurrency: 2, cacheDir });
    assert.equal(server.requests.length, tasks + 2);
    assert.deepEqual(again.requests, { fetched: 0, cached: tasks });
    assert.deepEqual(again.perClass, raw.perClass);
    // Another temperature is another question.
    await generateConcepts({
      client,
      classes: ['goldfish'],
      concurrency: 2,
      cacheDir,
      temperature: 0,
      samples: 1,
      prompts: { important: LF_CBM_PROMPTS.important! },
    });
    assert.equal(server.requests.length, tasks + 3);
    assert.equal(server.requests.at(-1)!.body.temperature, 0);
  } finally {
    await server.close();
    rmSync(tmp, { recursive: true, force: true });
  }
});

test('generate: an endpoint that is down, a rejected key and an always-malformed server fail clearly', async () => {
  const port = await deadPort();
  const down = new ChatClient({ baseUrl: `http://127.0.0.1:${port}/v1`, apiKey: 'k', model: 'm', maxRetries: 1, ...fast });
  // Requests run concurrently, so whichever prompt fails first is named.
  await assert.rejects(
    generateConcepts({ client: down, classes: ['cat'], samples: 1 }),
    /class "cat", prompt "(important|around|superclass)": .*127\.0\.0\.1:\d+\/v1\/chat\/completions: cannot reach the endpoint \(ECONNREFUSED\) \(gave up after 2 attempts\)/,
  );

  const server = await startChatServer(
    (req) => {
      if (req.authorization !== 'Bearer good') return { status: 401, body: JSON.stringify({ error: { message: 'Incorrect API key provided' } }) };
      return { body: 'not json at all' };
    },
    { maxRequests: 20 },
  );
  try {
    const bad = new ChatClient({ baseUrl: server.baseUrl, apiKey: 'bad', model: 'm', maxRetries: 3, ...fast });
    await assert.rejects(
      bad.complete({ messages: [{ role: 'user', content: 'x' }] }),
      /not authorised \(check the API key\), HTTP 401: Incorrect API key provided/,
    );
    assert.equal(server.requests.length, 1, 'a 401 is not retried');
    const retries: number[] = [];
    const good = new ChatClient({ baseUrl: server.baseUrl, apiKey: 'good', model: 'm', maxRetries: 2, ...fast, onRetry: (r) => retries.push(r.attempt) });
    await assert.rejects(
      good.complete({ messages: [{ role: 'user', content: 'x' }] }),
      /malformed answer \(not JSON\): not json at all \(gave up after 3 attempts\)/,
    );
    assert.deepEqual(retries, [1, 2]);
    assert.equal(server.requests.length, 4);
  } finally {
    await server.close();
  }
  assert.throws(() => new ChatClient({ baseUrl: 'http://127.0.0.1:1/v1', apiKey: '', model: 'm' }), /no API key \(set OPENAI_API_KEY/);
  assert.throws(() => new ChatClient({ baseUrl: 'not a url', apiKey: 'k', model: 'm' }), /"not a url" is not a URL/);
});

test('generate: server errors are retried with back-off, then succeed', async () => {
  let n = 0;
  const server = await startChatServer(() => (++n <= 2 ? { status: n === 1 ? 503 : 500, body: 'upstream down' } : { body: completion('- a\n- b') }), {
    maxRequests: 10,
  });
  try {
    const waits: number[] = [];
    const client = new ChatClient({
      baseUrl: `${server.baseUrl}/`,
      apiKey: 'k',
      model: 'm',
      initialBackoffMs: 40,
      maxBackoffMs: 1000,
      sleep: async (ms) => void waits.push(ms),
    });
    assert.equal(await client.complete({ messages: [{ role: 'user', content: 'x' }] }), '- a\n- b');
    assert.equal(waits.length, 2);
    assert.ok(waits[0]! >= 20 && waits[0]! <= 40, `first wait ${waits[0]} in [20, 40]`);
    assert.ok(waits[1]! >= 40 && waits[1]! <= 80, `second wait ${waits[1]} in [40, 80] (doubled)`);
  } finally {
    await server.close();
  }
});
