/** Video explanations: a red square moving right, followed by the red heatmap frame by frame. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { explainVideo, listFrames, writeFramePngs } from '../../src/explain/video.js';
import { conceptModelFromSalf } from '../../src/models/concept-model.js';
import { tempDir } from '../helpers/paths.js';
import { runCli } from '../helpers/run-cli.js';
import { BLUE, RED, colourModel, scene } from './colour-model.js';

const root = tempDir('salf-video-');
const model = conceptModelFromSalf(colourModel(root));
/** Frame k: a 16×32 red bar in grid column k on blue. */
const frames = [0, 1, 2, 3].map((k) => ({ data: scene(64, 64, BLUE, [{ rect: [16 * k, 16, 16 * k + 16, 48], colour: RED }]), width: 64, height: 64 }));
const frameDir = join(root, 'frames');
const written = await writeFramePngs(frameDir, frames);

test('frames are explained in order and the tracked heatmap follows the object; the animation has one page per frame', async () => {
  writeFileSync(join(frameDir, 'notes.txt'), 'not a frame');
  assert.deepEqual(listFrames(frameDir), written);
  const out = join(root, 'gif');
  const res = await explainVideo(model, frameDir, out, { concepts: ['red', 'blue'], fps: 4, viewSize: 96 });
  assert.equal(res.frames.length, 4);
  res.frames.forEach((f, k) => {
    const red = f.concepts[0]!;
    assert.equal(red.concept, 'red');
    assert.equal(red.peakCell[1], k, `frame ${k}: red peaks in column ${red.peakCell[1]}`);
    assert.ok([1, 2].includes(red.peakCell[0]));
    const blue = f.concepts[1]!;
    const lowest = Math.min(...blue.map);
    assert.equal(blue.map[4 + k], lowest, 'blue is lowest where the red bar is');
    assert.equal(blue.map[8 + k], lowest);
    assert.equal(f.prediction.class, 'bluish');
  });
  // One colour range for the whole video.
  const [lo, hi] = res.ranges.red!;
  assert.ok(lo < 0 && hi > 0.7);
  const gif = join(out, 'heatmap-red.gif');
  const meta = await sharp(gif, { animated: true }).metadata();
  assert.equal(meta.format, 'gif');
  assert.equal(meta.pages, 4);
  assert.equal(meta.width, 96);
  assert.equal(meta.pageHeight, 96 + 30, 'frame plus caption strip');
  const json = JSON.parse(readFileSync(join(out, 'video.json'), 'utf8'));
  assert.deepEqual(json.concepts, ['red', 'blue']);
  assert.equal(json.frames[2].concepts[0].map.length, 16);

  const seq = await explainVideo(model, frameDir, join(root, 'seq'), { concepts: ['red'], format: 'frames', viewSize: 64, maxFrames: 3 });
  assert.equal(seq.frames.length, 3);
  assert.equal(readdirSync(join(root, 'seq', 'heatmap-red')).length, 3);
});

test('a video file needs ffmpeg: a clear message without it, and its frames are used with it', async () => {
  const video = join(root, 'clip.mp4');
  writeFileSync(video, 'not really a video');
  await assert.rejects(
    explainVideo(model, video, join(root, 'v1'), { concepts: ['red'], ffmpeg: join(root, 'no-ffmpeg-here') }),
    /clip\.mp4: decoding a video needs ffmpeg, which was not found .* Install ffmpeg .*or extract the frames into a folder/,
  );
  // A stand-in ffmpeg that "decodes" by copying the frame PNGs to the requested pattern.
  const fake = join(root, 'fake-ffmpeg.sh');
  writeFileSync(
    fake,
    `#!/bin/sh\nfor last; do :; done\nout=$(dirname "$last")\necho "$@" > "${join(root, 'ffmpeg-args.txt')}"\ni=1\nfor f in ${frameDir}/*.png; do cp "$f" "$out/frame-$(printf %06d $i).png"; i=$((i+1)); done\n`,
  );
  chmodSync(fake, 0o755);
  const res = await explainVideo(model, video, join(root, 'v2'), { concepts: ['red'], ffmpeg: fake, fps: 2, maxFrames: 10, format: 'webp', viewSize: 64 });
  assert.equal(res.frames.length, 4);
  assert.equal(res.frames[3]!.concepts[0]!.peakCell[1], 3);
  const args = readFileSync(join(root, 'ffmpeg-args.txt'), 'utf8');
  assert.match(args, /-i .*clip\.mp4 -vf fps=2 -frames:v 10 /);
  assert.ok(existsSync(join(root, 'v2', 'heatmap-red.webp')));
  const failing = join(root, 'failing-ffmpeg.sh');
  writeFileSync(failing, '#!/bin/sh\necho "Invalid data found when processing input" >&2\nexit 1\n');
  chmodSync(failing, 0o755);
  await assert.rejects(
    explainVideo(model, video, join(root, 'v3'), { concepts: ['red'], ffmpeg: failing }),
    /ffmpeg could not decode the video \(exit 1\): Invalid data found/,
  );
  await assert.rejects(explainVideo(model, frameDir, join(root, 'v4'), { concepts: ['purple'] }), /unknown concept "purple"/);
  await assert.rejects(explainVideo(model, join(root, 'nothing'), join(root, 'v5'), { concepts: ['red'] }), /nothing: not found/);
});

test('a bad frame stops the run and names --skip-bad; with skipBad it is left out, reported, and the rest explained', async () => {
  const dir = join(root, 'with-bad');
  const files = await writeFramePngs(dir, frames);
  // Frame 2 truncated mid-stream; a frame of another size appended.
  const bytes = readFileSync(files[1]!);
  writeFileSync(files[1]!, bytes.subarray(0, Math.floor(bytes.length / 2)));
  writeFileSync(
    join(dir, 'frame-0005.png'),
    await sharp({ create: { width: 32, height: 48, channels: 3, background: '#ff0000' } })
      .png()
      .toBuffer(),
  );
  await assert.rejects(
    explainVideo(model, dir, join(root, 'bad-stop'), { concepts: ['red'], viewSize: 64 }),
    /frame-0002\.png: cannot decode image .*\(pass --skip-bad to leave such frames out\)/,
  );
  assert.equal(existsSync(join(root, 'bad-stop', 'video.json')), false);
  const res = await explainVideo(model, dir, join(root, 'bad-skip'), { concepts: ['red'], viewSize: 64, skipBad: true });
  assert.deepEqual(
    res.frames.map((f) => f.frame),
    [0, 2, 3],
  );
  assert.deepEqual(
    res.frames.map((f) => f.concepts[0]!.peakCell[1]),
    [0, 2, 3],
    'the remaining frames still follow the bar',
  );
  assert.deepEqual(
    res.skipped.map((s) => [s.frame, s.file]),
    [
      [1, files[1]],
      [4, join(dir, 'frame-0005.png')],
    ],
  );
  assert.match(res.skipped[0]!.reason, /cannot decode image/);
  assert.match(res.skipped[1]!.reason, /frame shape differs from the first frame's/);
  const json = JSON.parse(readFileSync(join(root, 'bad-skip', 'video.json'), 'utf8'));
  assert.equal(json.skipped.length, 2);
  const gif = await sharp(join(root, 'bad-skip', 'heatmap-red.gif')).metadata();
  assert.equal(gif.pages, 3);
  // The command line: --skip-bad reports the skipped frames on stderr.
  const modelDir = join(root, 'cli-model');
  colourModel(root).save(modelDir);
  const cli = runCli(['video', '--model', modelDir, '--concept', 'red', '--out', join(root, 'bad-cli'), '--view-size', '64', '--skip-bad', dir]);
  assert.equal(cli.status, 0, cli.stderr);
  assert.match(cli.stderr, /skipped frame 1: .*frame-0002\.png: cannot decode image/);
  assert.match(cli.stderr, /2 of 5 frames skipped/);
  const stopped = runCli(['video', '--model', modelDir, '--concept', 'red', '--out', join(root, 'bad-cli-2'), dir]);
  assert.notEqual(stopped.status, 0);
  assert.match(stopped.stderr, /frame-0002\.png: cannot decode image.*--skip-bad/);
});

test('with skipBad and no readable frame, the error says so', async () => {
  const dir = join(root, 'all-bad');
  const files = await writeFramePngs(dir, frames.slice(0, 2));
  for (const f of files) writeFileSync(f, 'not a png');
  await assert.rejects(
    explainVideo(model, dir, join(root, 'all-bad-out'), { concepts: ['red'], skipBad: true }),
    /no frame could be read \(2 left out; the first: .*frame-0001\.png: cannot decode image/,
  );
});
