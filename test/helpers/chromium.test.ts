/**
 * Whether the explorer's browser tests run, skip with a reason, or (SALF_CBM_REQUIRE_BROWSER=1,
 * as in .ci/run) run and fail: decided from where a Chromium is found, with fake PATHs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { browserTestSkip, findChromium, launchChromium } from './chromium.js';
import { tempDir } from './paths.js';

function fakeExecutable(dir: string, name: string, mode = 0o755): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, name);
  writeFileSync(path, '#!/bin/sh\n');
  chmodSync(path, mode);
  return path;
}

// No system folders: only SALF_CHROMIUM and the fake PATHs count, whatever this machine has.
const none: string[] = [];

test('SALF_CHROMIUM is used when it names an executable, and reported (not replaced) when it does not', () => {
  const root = tempDir();
  const chrome = fakeExecutable(root, 'my-chrome');
  assert.equal(findChromium({ SALF_CHROMIUM: chrome, PATH: '' }, none), chrome);
  assert.equal(browserTestSkip({ SALF_CHROMIUM: chrome, PATH: '' }, none), undefined, 'found: the tests run');
  const missing = join(root, 'nothing-here');
  assert.equal(findChromium({ SALF_CHROMIUM: missing, PATH: '' }, none), undefined);
  assert.match(browserTestSkip({ SALF_CHROMIUM: missing, PATH: '' }, none) ?? '', /SALF_CHROMIUM=.*nothing-here is not an executable; install it/);
  const notExecutable = fakeExecutable(root, 'plain-file', 0o644);
  assert.equal(findChromium({ SALF_CHROMIUM: notExecutable, PATH: '' }, none), undefined);
  assert.equal(findChromium({ SALF_CHROMIUM: root, PATH: '' }, none), undefined, 'a folder is not a browser');
  assert.equal(findChromium({ PATH: '' }, [root]), undefined, 'no usual name in the system folder');
  const debian = fakeExecutable(join(root, 'usr-bin'), 'chromium');
  assert.equal(findChromium({ PATH: join(root, 'path') }, [join(root, 'usr-bin')]), debian, "the system folder's chromium");
});

test('without a Chromium the browser tests skip with a reason, and SALF_CBM_REQUIRE_BROWSER=1 makes them run (and fail)', () => {
  const empty = tempDir();
  const reason = browserTestSkip({ PATH: empty }, none);
  assert.ok(reason !== undefined, 'skipped');
  assert.match(reason, /there is no Chromium \(chromium, chromium-browser, google-chrome-stable, google-chrome\) in \/usr\/bin or on PATH/);
  assert.match(reason, /apt-get install -y chromium/);
  assert.match(reason, /SALF_CBM_REQUIRE_BROWSER=1 makes this skip a failure/);
  assert.equal(browserTestSkip({ PATH: empty, SALF_CBM_REQUIRE_BROWSER: '1' }, none), undefined, 'required: not skipped');
  assert.ok(browserTestSkip({ PATH: empty, SALF_CBM_REQUIRE_BROWSER: '0' }, none) !== undefined, 'only 1 requires it');
});

test('a required browser that is missing fails the test that launches it, saying how to install one', async () => {
  const saved = process.env.SALF_CHROMIUM;
  process.env.SALF_CHROMIUM = join(tempDir(), 'no-chromium');
  try {
    await assert.rejects(
      launchChromium(),
      /headless Chromium is required .* but SALF_CHROMIUM=.*no-chromium is not an executable; install it with `apt-get update && apt-get install -y chromium`/,
    );
  } finally {
    if (saved === undefined) delete process.env.SALF_CHROMIUM;
    else process.env.SALF_CHROMIUM = saved;
  }
});

test('a Chromium on PATH is found under its usual names, in order of name', () => {
  const root = tempDir();
  const a = join(root, 'a');
  const b = join(root, 'b');
  const chrome = fakeExecutable(a, 'google-chrome');
  assert.equal(findChromium({ PATH: [a, b].join(':') }, none), chrome);
  const ubuntu = fakeExecutable(b, 'chromium-browser');
  assert.equal(findChromium({ PATH: [a, b].join(':') }, none), ubuntu, 'chromium-browser before google-chrome');
  fakeExecutable(a, 'unrelated');
  assert.equal(browserTestSkip({ PATH: [a, b].join(':') }, none), undefined);
});
