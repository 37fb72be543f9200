/**
 * ONNX Runtime sessions: one place that picks the execution provider and caches sessions, since
 * creating one is costly. Small compute graphs are built once per shape key and reused for the
 * engine's life; graphs with an owner's weights baked in (a model's head, a CAM head) are cached
 * under that owner and released with it (`evict`), so loading and dropping models in a loop
 * does not grow the cache.
 */
import * as ort from 'onnxruntime-node';
import './dispose.js';

export { ort };
export type { ModelResource } from './dispose.js';

/** Anything whose sessions are cached under it (a model, a head) and evicted with it. */
export type SessionOwner = object;

type SessionCache = Map<string, Promise<ort.InferenceSession>>;

/** Which execution provider runs the graphs. `cuda` needs onnxruntime-node installed with CUDA. */
export type Device = 'cpu' | 'cuda';

export interface EngineOptions {
  /** Execution provider; `cpu` by default. */
  device?: Device;
  /** Intra-op threads for CPU sessions; ONNX Runtime's default (all cores) when omitted. */
  threads?: number;
}

/** Creates sessions on one execution provider and caches them by key, or by owner and key. */
export class Engine {
  readonly device: Device;
  private readonly threads: number | undefined;
  /** Sessions that live as long as the engine: keyed by shape or content. */
  private readonly shared: SessionCache = new Map();
  /** Sessions of each owner, keyed within it. */
  private readonly owned = new Map<SessionOwner, SessionCache>();

  constructor(options: EngineOptions = {}) {
    this.device = options.device ?? 'cpu';
    this.threads = options.threads;
  }

  /** Session options for this engine's provider. */
  sessionOptions(): ort.InferenceSession.SessionOptions {
    const opts: ort.InferenceSession.SessionOptions = {
      executionProviders: this.device === 'cuda' ? ['cuda', 'cpu'] : ['cpu'],
      graphOptimizationLevel: 'all',
    };
    if (this.threads !== undefined) opts.intraOpNumThreads = this.threads;
    return opts;
  }

  /** Opens a session over model bytes or a file path (not cached). */
  async open(model: Uint8Array | string, source?: string): Promise<ort.InferenceSession> {
    try {
      return typeof model === 'string'
        ? await ort.InferenceSession.create(model, this.sessionOptions())
        : await ort.InferenceSession.create(model, this.sessionOptions());
    } catch (err) {
      const where = source ?? (typeof model === 'string' ? model : 'ONNX model');
      const hint = this.device === 'cuda' ? ' (is onnxruntime-node installed with CUDA? see README)' : '';
      throw new Error(`${where}: ONNX Runtime could not load it${hint}: ${(err as Error).message}`);
    }
  }

  /**
   * The cached session for `key`, building the model with `build` the first time; it lives as
   * long as the engine. Keys must name everything that changes the graph (op, shapes, and the
   * content of any weights baked in).
   */
  cached(key: string, build: () => Uint8Array): Promise<ort.InferenceSession>;
  /**
   * The session `owner` caches under `key` (a name within the owner: its baked-in weights need
   * no id), built the first time; released by `evict(owner)`.
   */
  cached(owner: SessionOwner, key: string, build: () => Uint8Array): Promise<ort.InferenceSession>;
  cached(...args: [string, () => Uint8Array] | [SessionOwner, string, () => Uint8Array]): Promise<ort.InferenceSession> {
    const [cache, key, build] = args.length === 2 ? [this.shared, ...args] : [this.ownCache(args[0]), args[1], args[2]];
    let s = cache.get(key);
    if (!s) {
      s = this.open(build(), `compute graph ${key}`);
      cache.set(key, s);
    }
    return s;
  }

  private ownCache(owner: SessionOwner): SessionCache {
    let cache = this.owned.get(owner);
    if (!cache) this.owned.set(owner, (cache = new Map()));
    return cache;
  }

  /** Number of sessions cached (shared and owned), opened or opening. */
  get sessionCount(): number {
    let n = this.shared.size;
    for (const cache of this.owned.values()) n += cache.size;
    return n;
  }

  /** Releases the sessions cached under `owner` and forgets them (nothing when it has none). */
  async evict(owner: SessionOwner): Promise<void> {
    const cache = this.owned.get(owner);
    if (!cache) return;
    this.owned.delete(owner);
    await releaseAll(cache);
  }

  /** Releases every cached session. The engine stays usable: later calls open new ones. */
  async dispose(): Promise<void> {
    const caches = [this.shared, ...this.owned.values()];
    this.owned.clear();
    await Promise.all(caches.map(releaseAll));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}

/** Empties `cache` and releases its sessions; one that failed to open has nothing to release. */
async function releaseAll(cache: SessionCache): Promise<void> {
  const pending = [...cache.values()];
  cache.clear();
  const opened = await Promise.allSettled(pending);
  await Promise.all(opened.flatMap((s) => (s.status === 'fulfilled' ? [s.value.release()] : [])));
}

let defaultEngine: Engine | undefined;

/** The process-wide CPU engine, for callers that do not manage their own. */
export function getDefaultEngine(): Engine {
  defaultEngine ??= new Engine();
  return defaultEngine;
}

/** A float32 tensor. */
export function f32(data: Float32Array, dims: readonly number[]): ort.Tensor {
  return new ort.Tensor('float32', data, dims as number[]);
}

/** The float32 data of a tensor, checked. */
export function dataF32(t: ort.Tensor, what = 'tensor'): Float32Array {
  if (t.type !== 'float32') throw new Error(`${what}: expected float32, got ${t.type}`);
  return t.data as Float32Array;
}
