/**
 * Child process for resume.test.ts (not a test by itself: without SALF_RESUME_CHILD it does
 * nothing). Computes prompted embeddings with a slow fake encoder; the parent kills it.
 * Config (JSON in SALF_RESUME_CHILD): images, cacheDir, size, delayMs, pauseAtShard?.
 * With pauseAtShard, it prints `paused <tmp>` once that shard's temporary file is written and
 * then blocks before the rename.
 */
import { writeSync } from 'node:fs';
import { computePromptedEmbeddings, promptedStoreOptions } from '../../src/similarity/compute.js';
import type { BeforeShardCommit } from '../../src/store/row-store.js';
import { FakeImageEncoder, rawLoader } from './fake-encoder.js';

export interface ChildConfig {
  images: string[];
  cacheDir: string;
  size: number;
  delayMs: number;
  pauseAtShard?: number;
}

function jobOptions(config: ChildConfig, encoder: FakeImageEncoder) {
  return { encoder, images: config.images, resize: 'raw', grid: [2, 2] as const, radius: 5, cacheDir: config.cacheDir, shardSize: 2 };
}

/** The computation both the child and the parent's reference run perform. */
export function resumeJob(config: ChildConfig, encoder: FakeImageEncoder, beforeShardCommit?: BeforeShardCommit) {
  return computePromptedEmbeddings({ ...jobOptions(config, encoder), loadImage: rawLoader(config.size), batchSize: 3, beforeShardCommit });
}

/** The store options of that computation (to open the store without computing). */
export function resumeStoreOptions(config: ChildConfig, encoder: FakeImageEncoder) {
  return promptedStoreOptions(jobOptions(config, encoder));
}

export function childEncoder(config: ChildConfig, delayMs = config.delayMs): FakeImageEncoder {
  return new FakeImageEncoder({ inputSize: config.size, embedDim: 12, seed: 11, delayMs });
}

const raw = process.env.SALF_RESUME_CHILD;
if (raw) {
  const config = JSON.parse(raw) as ChildConfig;
  const encoder = childEncoder(config);
  await resumeJob(config, encoder, (shard, tmp) => {
    if (shard === config.pauseAtShard) {
      writeSync(1, `paused ${tmp}\n`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0); // blocks until killed
    }
  });
  process.stdout.write(`done ${encoder.imagesSeen}\n`);
  await encoder.dispose();
}
