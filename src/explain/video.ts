/**
 * Video (SPEC step 6): the model applied frame by frame. Frames come from a folder of images
 * (sorted by name, numbers compared as numbers) or from a video file decoded by ffmpeg when it
 * is installed. For every frame: the prediction and the chosen concepts' activations and
 * contributions; for every chosen concept, its heatmap over the frames as an animated GIF or
 * WebP, or a PNG sequence, with one colour range for the whole video so frames compare.
 * A frame that cannot be decoded (or whose size differs from the first frame's) stops the run,
 * or with `skipBad` is left out and reported.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { extname, join } from 'node:path';
import sharp, { type Sharp } from 'sharp';
import { writeJsonAtomic } from '../data/atomic-write.js';
import type { RgbImage } from '../data/rgb-image.js';
import type { ConceptModel } from '../models/concept-model.js';
import { imageOutputs, prepareImage, runPrepared, type PreparedImage } from './analyse.js';
import { allContributions, rankClasses } from './contributions.js';
import { colormapHex } from './heatmap.js';
import { resolveName } from './names.js';
import { makeView, overlayHeatmap } from './render.js';
import { safeName } from './explain-image.js';
import { FONT, esc, fit, short } from './svg.js';

/** Image file extensions read as frames. */
export const FRAME_EXTENSIONS = ['.png', '.jpg', '.jpeg', '.webp', '.bmp', '.tif', '.tiff', '.gif', '.avif'];

/** The image files of a folder, in natural name order. */
export function listFrames(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    throw new Error(`${dir}: cannot list the frames folder (${(err as Error).message})`);
  }
  const frames = names
    .filter((n) => FRAME_EXTENSIONS.includes(extname(n).toLowerCase()) && !n.startsWith('.'))
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }))
    .map((n) => join(dir, n));
  if (frames.length === 0) throw new Error(`${dir}: no image frames found (looked for ${FRAME_EXTENSIONS.join(' ')})`);
  return frames;
}

/**
 * Decodes a video file to PNG frames in `outDir` with ffmpeg (sampled at `fps`, at most
 * `maxFrames`). Throws a clear message when ffmpeg is not installed or fails.
 */
export async function extractVideoFrames(file: string, outDir: string, options: { fps: number; maxFrames: number; ffmpeg?: string }): Promise<string[]> {
  const ffmpeg = options.ffmpeg ?? 'ffmpeg';
  mkdirSync(outDir, { recursive: true });
  const args = [
    '-hide_banner',
    '-loglevel',
    'error',
    '-nostdin',
    '-i',
    file,
    '-vf',
    `fps=${options.fps}`,
    '-frames:v',
    String(options.maxFrames),
    join(outDir, 'frame-%06d.png'),
  ];
  await new Promise<void>((resolve, reject) => {
    let stderr = '';
    const child = spawn(ffmpeg, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('error', (err: NodeJS.ErrnoException) => {
      reject(
        err.code === 'ENOENT'
          ? new Error(
              `${file}: decoding a video needs ffmpeg, which was not found (${ffmpeg}). Install ffmpeg (e.g. \`apt-get install ffmpeg\`), or extract the frames into a folder and pass the folder instead.`,
            )
          : new Error(`${file}: could not run ffmpeg (${err.message})`),
      );
    });
    child.on('close', (code) => {
      if (code === 0) resolve();
      else reject(new Error(`${file}: ffmpeg could not decode the video (exit ${code}): ${stderr.trim().split('\n').slice(-3).join(' ') || 'no message'}`));
    });
  });
  const frames = readdirSync(outDir)
    .filter((n) => /^frame-\d+\.png$/.test(n))
    .sort()
    .map((n) => join(outDir, n));
  if (frames.length === 0) throw new Error(`${file}: ffmpeg produced no frames`);
  return frames;
}

/** Options for {@link explainVideo}. */
export interface VideoOptions {
  /** Concepts whose heatmaps are tracked (names or indices); at least one. */
  concepts: readonly (string | number)[];
  /** Frames per second sampled from a video file, and of the animation (5). */
  fps?: number;
  /** At most this many frames (300). */
  maxFrames?: number;
  /** `gif` (default), `webp` (animated) or `frames` (a PNG per frame). */
  format?: 'gif' | 'webp' | 'frames';
  /** Longer side of the pictures in px (256). */
  viewSize?: number;
  /** The ffmpeg executable ('ffmpeg' on the PATH). */
  ffmpeg?: string;
  batchSize?: number;
  /** Leave out frames that cannot be decoded or differ in size from the first, reporting them, instead of stopping. */
  skipBad?: boolean;
}

/** A frame left out with `skipBad`. */
export interface SkippedFrame {
  frame: number;
  file: string;
  reason: string;
}

/** One frame's results. */
export interface FrameResult {
  frame: number;
  file: string;
  prediction: { class: string; probability: number };
  /** The tracked concepts: activation c*, ĉ, contribution to the frame's predicted class, and the map's peak. */
  concepts: { concept: string; activation: number; standardised: number; contribution: number; peak: number; peakCell: [number, number]; map: number[] }[];
}

/** What {@link explainVideo} wrote. */
export interface VideoResult {
  frames: FrameResult[];
  /** Frames left out (`skipBad`), in order. */
  skipped: SkippedFrame[];
  /** Per concept: the colour range used for all frames. */
  ranges: Record<string, [number, number]>;
  files: string[];
}

/**
 * Explains every frame of `source` (a folder of frames or a video file) and writes video.json
 * and one heatmap animation (or PNG sequence) per tracked concept into `outDir`.
 */
export async function explainVideo(model: ConceptModel, source: string, outDir: string, options: VideoOptions): Promise<VideoResult> {
  if (options.concepts.length === 0) throw new Error('video: name at least one concept to track');
  const concepts = [...new Set(options.concepts.map((c) => resolveName(model.concepts, c, 'concept')))];
  const fps = options.fps ?? 5;
  if (!(fps > 0)) throw new Error(`video: fps must be positive (got ${fps})`);
  const maxFrames = options.maxFrames ?? 300;
  const format = options.format ?? 'gif';
  let st;
  try {
    st = statSync(source);
  } catch {
    throw new Error(`${source}: not found (expected a folder of frames or a video file)`);
  }
  let tmp: string | undefined;
  try {
    let files: string[];
    if (st.isDirectory()) files = listFrames(source).slice(0, maxFrames);
    else {
      tmp = mkdtempSync(join(tmpdir(), 'salf-video-'));
      files = await extractVideoFrames(source, tmp, { fps, maxFrames, ffmpeg: options.ffmpeg });
    }
    return await explainFrames(model, files, concepts, outDir, { ...options, fps, format });
  } finally {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  }
}

async function explainFrames(
  model: ConceptModel,
  files: string[],
  concepts: number[],
  outDir: string,
  options: VideoOptions & { fps: number; format: 'gif' | 'webp' | 'frames' },
): Promise<VideoResult> {
  const [gh, gw] = model.grid;
  const G = gh * gw;
  const batchSize = options.batchSize ?? 16;
  const viewSize = options.viewSize ?? 256;
  const frames: FrameResult[] = [];
  const skipped: SkippedFrame[] = [];
  const views: RgbImage[] = [];
  for (let start = 0; start < files.length; start += batchSize) {
    const batch: PreparedImage[] = [];
    const numbers: number[] = [];
    for (const [k, f] of files.slice(start, start + batchSize).entries()) {
      try {
        batch.push(await prepareImage(model, f));
        numbers.push(start + k);
      } catch (err) {
        if (!options.skipBad) throw new Error(`${(err as Error).message} (pass --skip-bad to leave such frames out)`);
        skipped.push({ frame: start + k, file: f, reason: (err as Error).message });
      }
    }
    if (batch.length === 0) continue;
    const out = await runPrepared(model, batch, batchSize);
    for (let i = 0; i < batch.length; i++) {
      const o = imageOutputs(model, out, i);
      const top = rankClasses(model, o.logits)[0]!;
      const contrib = allContributions(model, o.standardised, top.index);
      const view = await makeView(batch[i]!, viewSize);
      if (views.length && (view.width !== views[0]!.width || view.height !== views[0]!.height)) {
        const reason = `${batch[i]!.name}: frame shape differs from the first frame's (all frames of a video must have one size)`;
        if (!options.skipBad) throw new Error(reason);
        skipped.push({ frame: numbers[i]!, file: batch[i]!.name, reason });
        continue;
      }
      views.push(view);
      frames.push({
        frame: numbers[i]!,
        file: batch[i]!.name,
        prediction: { class: top.class, probability: top.probability },
        concepts: concepts.map((m) => {
          const map = Array.from(o.conceptMaps.subarray(m * G, (m + 1) * G));
          const peakAt = map.indexOf(Math.max(...map));
          return {
            concept: model.concepts[m]!,
            activation: o.activations[m]!,
            standardised: o.standardised[m]!,
            contribution: contrib[m]!,
            peak: map[peakAt]!,
            peakCell: [Math.floor(peakAt / gw), peakAt % gw],
            map,
          };
        }),
      });
    }
  }

  if (frames.length === 0) {
    throw new Error(`no frame could be read (${skipped.length} left out; the first: ${skipped[0]?.reason ?? 'none'})`);
  }
  mkdirSync(outDir, { recursive: true });
  const written: string[] = [];
  const ranges: Record<string, [number, number]> = {};
  for (let k = 0; k < concepts.length; k++) {
    const name = model.concepts[concepts[k]!]!;
    let lo = Infinity;
    let hi = -Infinity;
    for (const f of frames)
      for (const v of f.concepts[k]!.map) {
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
      }
    ranges[name] = [lo, hi];
    const rendered: Buffer[] = [];
    for (let i = 0; i < frames.length; i++) {
      const f = frames[i]!;
      const c = f.concepts[k]!;
      const over = overlayHeatmap(views[i]!, c.map, model.grid, [lo, hi]);
      rendered.push(
        await captionFrame(over, `#${f.frame} ${name} ${short(c.activation)} → ${f.prediction.class} ${(100 * f.prediction.probability).toFixed(0)}%`, lo, hi),
      );
    }
    const tag = safeName(name);
    if (options.format === 'frames') {
      const dir = join(outDir, `heatmap-${tag}`);
      mkdirSync(dir, { recursive: true });
      for (let i = 0; i < rendered.length; i++) {
        const file = join(dir, `frame-${String(i).padStart(6, '0')}.png`);
        await rawToSharp(rendered[i]!, views[0]!.width).png().toFile(file);
        written.push(file);
      }
    } else {
      const file = join(outDir, `heatmap-${tag}.${options.format}`);
      const w = views[0]!.width;
      const h = rendered[0]!.length / (w * 3);
      const tall = Buffer.concat(rendered);
      const img = sharp(tall, { raw: { width: w, height: h * rendered.length, channels: 3, pageHeight: h } });
      const delay = Math.round(1000 / options.fps);
      await (options.format === 'gif' ? img.gif({ delay, loop: 0 }) : img.webp({ delay, loop: 0, lossless: true })).toFile(file);
      written.push(file);
    }
  }
  const json = join(outDir, 'video.json');
  writeJsonAtomic(json, { grid: [gh, gw], fps: options.fps, concepts: concepts.map((m) => model.concepts[m]!), ranges, frames, skipped });
  written.unshift(json);
  return { frames, skipped, ranges, files: written };
}

const CAPTION_H = 30;

/** The frame with a caption strip (text and the colour range) under it, as raw RGB. */
async function captionFrame(frame: RgbImage, text: string, lo: number, hi: number): Promise<Buffer> {
  const { width: w, height: h } = frame;
  const stops = Array.from({ length: 11 }, (_, k) => `<stop offset="${k / 10}" stop-color="${colormapHex(k / 10)}"/>`).join('');
  const barW = Math.min(90, Math.round(w / 4));
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${CAPTION_H}" font-family="${esc(FONT)}">` +
    `<defs><linearGradient id="c" x1="0" x2="1">${stops}</linearGradient></defs>` +
    `<rect width="${w}" height="${CAPTION_H}" fill="#ffffff"/>` +
    `<text x="4" y="12" font-size="10.5">${esc(fit(text, 10.5, w - 8))}</text>` +
    `<text x="4" y="26" font-size="9.5" fill="#444">${esc(short(lo))}</text>` +
    `<rect x="${4 + 6.5 * short(lo).length}" y="17" width="${barW}" height="9" fill="url(#c)"/>` +
    `<text x="${8 + 6.5 * short(lo).length + barW}" y="26" font-size="9.5" fill="#444">${esc(short(hi))}</text></svg>`;
  const caption = await sharp(Buffer.from(svg)).flatten({ background: '#ffffff' }).removeAlpha().raw().toBuffer();
  const out = Buffer.alloc(w * (h + CAPTION_H) * 3);
  Buffer.from(frame.data.buffer, frame.data.byteOffset, frame.data.byteLength).copy(out, 0);
  caption.copy(out, w * h * 3, 0, w * CAPTION_H * 3);
  return out;
}

function rawToSharp(raw: Buffer, width: number): Sharp {
  return sharp(raw, { raw: { width, height: raw.length / (width * 3), channels: 3 } });
}

/** Writes frames (raw RGB) as PNG files; used by tests and demos to make frame folders. */
export async function writeFramePngs(dir: string, frames: readonly RgbImage[]): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  const files: string[] = [];
  for (let i = 0; i < frames.length; i++) {
    const f = frames[i]!;
    const file = join(dir, `frame-${String(i + 1).padStart(4, '0')}.png`);
    writeFileSync(
      file,
      await sharp(Buffer.from(f.data.buffer, f.data.byteOffset, f.data.byteLength), { raw: { width: f.width, height: f.height, channels: 3 } })
        .png()
        .toBuffer(),
    );
    files.push(file);
  }
  return files;
}
