/**
 * Checkpoints of the concept-layer training, so that an interrupted run resumes at its last
 * validation point and ends exactly as an uninterrupted one would. A checkpoint holds the
 * current and best weights, Adam's moments and step count, the random generator's state and the
 * validation history, in one safetensors file written atomically. It carries a key (a hash of
 * the data and options, built by the caller): a checkpoint with another key belongs to another
 * run and is ignored. It also carries the SHA-256 of its tensors and state: a checkpoint changed
 * after it was written is an error naming the file, never resumed from.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readSafetensors, writeSafetensors } from '../models/safetensors.js';

/** One validation point. */
export interface CblHistoryEntry {
  step: number;
  /** Training-batch loss before this step's update. */
  trainLoss: number;
  /** Validation loss after this step's update. */
  valLoss: number;
  /** Mean validation sim3 over all G·M columns. */
  valSim: number;
}

/** Everything the training loop needs to continue after `step`. */
export interface CblState {
  /** Last step taken (0-based). */
  step: number;
  /** Whether training had finished (early stop or last step). */
  done: boolean;
  W: Float32Array;
  best: Float32Array;
  bestStep: number;
  bestValLoss: number;
  history: CblHistoryEntry[];
  adam: { step: number; m: Float32Array; v: Float32Array };
  rng: [number, number, number, number];
}

const FORMAT = 'salf-cbm-cbl-checkpoint-1';

/** Writes a checkpoint atomically (readers see the previous one or the complete new one). */
export function saveCblCheckpoint(path: string, key: string, s: CblState): void {
  const t = (data: Float32Array) => ({ data, shape: [data.length] });
  const state = JSON.stringify({
    step: s.step,
    done: s.done,
    bestStep: s.bestStep,
    bestValLoss: s.bestValLoss,
    history: s.history,
    adamStep: s.adam.step,
    rng: s.rng,
  });
  writeSafetensors(
    path,
    { W: t(s.W), best: t(s.best), adam_m: t(s.adam.m), adam_v: t(s.adam.v) },
    { format: FORMAT, key, state, sha256: contentHash(state, [s.W, s.best, s.adam.m, s.adam.v]) },
  );
}

/**
 * The checkpoint at `path` when it exists and was written for `key` with `size` parameters;
 * undefined otherwise (no checkpoint, or one of another run). A file that is not a readable
 * checkpoint is an error naming it.
 */
export function loadCblCheckpoint(path: string, key: string, size: number): CblState | undefined {
  if (!existsSync(path)) return undefined;
  const { tensors, metadata } = readSafetensors(path);
  if (metadata.format !== FORMAT || metadata.state === undefined) throw new Error(`${path}: not a concept-layer checkpoint`);
  if (metadata.key !== key) return undefined;
  const names = ['W', 'best', 'adam_m', 'adam_v'];
  for (const n of names) {
    if (tensors[n]?.data.length !== size) throw new Error(`${path}: tensor ${n} does not hold ${size} values`);
  }
  if (
    metadata.sha256 !==
    contentHash(
      metadata.state,
      names.map((n) => tensors[n]!.data),
    )
  ) {
    throw new Error(
      `${path}: the concept-layer checkpoint is corrupt (its SHA-256 does not match its content); delete it to train the concept layer from the start`,
    );
  }
  let st: {
    step: number;
    done: boolean;
    bestStep: number;
    bestValLoss: number | null;
    history: CblHistoryEntry[];
    adamStep: number;
    rng: [number, number, number, number];
  };
  try {
    st = JSON.parse(metadata.state);
  } catch (err) {
    throw new Error(`${path}: unreadable checkpoint state (${(err as Error).message})`);
  }
  return {
    step: st.step,
    done: st.done,
    W: tensors.W!.data,
    best: tensors.best!.data,
    bestStep: st.bestStep,
    // JSON has no Infinity: a run checkpointed before its first validation stores null.
    bestValLoss: st.bestValLoss ?? Infinity,
    history: st.history,
    adam: { step: st.adamStep, m: tensors.adam_m!.data, v: tensors.adam_v!.data },
    rng: st.rng,
  };
}

/** SHA-256 of a checkpoint's state text and tensors, in order. */
function contentHash(state: string, arrays: readonly Float32Array[]): string {
  const h = createHash('sha256').update(state);
  for (const a of arrays) h.update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  return h.digest('hex');
}

/** A key for checkpoints: SHA-256 over the given arrays and a JSON description of the options. */
export function checkpointKey(options: unknown, arrays: readonly Float32Array[]): string {
  const h = createHash('sha256');
  h.update(JSON.stringify(options));
  for (const a of arrays) {
    h.update(String(a.length));
    h.update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  }
  return h.digest('hex');
}
