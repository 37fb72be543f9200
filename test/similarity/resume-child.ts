/**
 * Child process for resume.test.ts (not a test by itself: without SALF_RESUME_CHILD it does
 * nothing). Computes prompted embeddings with a slow fake encoder; the parent kills it.
 * Config (JSON in SALF_RESUME_CHILD): images, cacheDir, size, delayMs, pauseAtShard?.
 * With pauseAtShard, it prints `paused <tmp>` once that shard's temporary file is written and
 * then waits forever before the rename.
 */
import { computePromptedEmbeddings } from '../../src/similarity/compute.js';
import { FakeImageEncoder, rawLoader } from './fake-encoder.js';

export interface ChildConfig {
  images: string[];
  cacheDir: string;
  size: number;
  delayMs: number;
  pauseAtShard?: number;
}

/** The computation both the child and the parent's reference run perform. */
export function resumeJob(config: ChildConfig, encoder: FakeImageEncoder, beforeShardCommit?: (shard: number, tmp: string) => Promise<void>) {
  return computePromptedEmbeddings({
    encoder,
    images: config.images,
    loadImage: rawLoader(config.size),
    resize: 'raw',
    grid: [2, 2],
    radius: 5,
    cacheDir: config.cacheDir,
    shardSize: 2,
    batchSize: 3,
    beforeShardCommit,
  });
}

export function childEncoder(config: ChildConfig, delayMs = config.delayMs): FakeImageEncoder {
  return new FakeImageEncoder({ inputSize: config.size, embedDim: 12, seed: 11, delayMs });
}

const raw = process.env.SALF_RESUME_CHILD;
if (raw) {
  const config = JSON.parse(raw) as ChildConfig;
  const encoder = childEncoder(config);
  await resumeJob(config, encoder, async (shard, tmp) => {
    if (shard === config.pauseAtShard) {
      process.stdout.write(`paused ${tmp}\n`);
      await new Promise(() => setInterval(() => {}, 1000));
    }
  });
  process.stdout.write(`done ${encoder.imagesSeen}\n`);
  await encoder.dispose();
}
