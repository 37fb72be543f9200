/**
 * Images stored inside a container file rather than one file each (CIFAR's pickled batches), so
 * that they flow through everything that takes image paths (the backbone, the prompted CLIP
 * embeddings, evaluation) without being written out as PNGs.
 *
 * A member path is `<container file>#<index>` (0-based): `decodeRgb` (image-io.ts) decodes it
 * from the container, and store fingerprints (store/fingerprint.ts, the embedding store) use the
 * container file's size and time with the member path. A path that exists as a file is always
 * that file, so names containing `#` keep working. Decoded containers stay in memory (CIFAR-10's
 * six batches are 180 MB).
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { cifarImage, readCifarBatch, type CifarBatch } from './cifar-batch.js';
import type { RgbImage } from './rgb-image.js';

/** One image of a container file. */
export interface ImageMember {
  /** Absolute path of the container file. */
  file: string;
  /** 0-based index of the image in the container. */
  index: number;
}

/** The member path of image `index` of container `file`. */
export function memberPath(file: string, index: number): string {
  return `${resolve(file)}#${index}`;
}

/** The container and index a member path names; undefined for a plain path (or an existing file). */
export function parseMemberPath(path: string): ImageMember | undefined {
  const m = /^(.+)#(\d+)$/.exec(path);
  if (!m || existsSync(path)) return undefined;
  return { file: resolve(m[1]!), index: Number.parseInt(m[2]!, 10) };
}

const containers = new Map<string, CifarBatch>();

/** A container file, read once and kept. */
export function readContainer(file: string): CifarBatch {
  const abs = resolve(file);
  let batch = containers.get(abs);
  if (!batch) {
    batch = readCifarBatch(abs);
    containers.set(abs, batch);
  }
  return batch;
}

/** Decodes a member image (its container is read once and kept); errors name the member path. */
export function decodeMember(member: ImageMember): RgbImage {
  const batch = readContainer(member.file);
  if (member.index >= batch.count) {
    throw new Error(`${member.file}#${member.index}: the container holds ${batch.count} images`);
  }
  return cifarImage(batch, member.index);
}
