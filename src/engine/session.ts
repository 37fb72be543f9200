/**
 * ONNX Runtime sessions: one place that picks the execution provider and caches sessions, since
 * creating one is costly. Small compute graphs are built once per shape key and reused.
 */
import * as ort from 'onnxruntime-node';

export { ort };

/** Which execution provider runs the graphs. `cuda` needs onnxruntime-node installed with CUDA. */
export type Device = 'cpu' | 'cuda';

export interface EngineOptions {
  /** Execution provider; `cpu` by default. */
  device?: Device;
  /** Intra-op threads for CPU sessions; ONNX Runtime's default (all cores) when omitted. */
  threads?: number;
}

/** Creates sessions on one execution provider and caches them by key. */
export class Engine {
  readonly device: Device;
  private readonly threads: number | undefined;
  private readonly cache = new Map<string, Promise<ort.InferenceSession>>();

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
   * The cached session for `key`, building the model with `build` the first time. Keys must
   * name everything that changes the graph (op and shapes).
   */
  cached(key: string, build: () => Uint8Array): Promise<ort.InferenceSession> {
    let s = this.cache.get(key);
    if (!s) {
      s = this.open(build(), `compute graph ${key}`);
      this.cache.set(key, s);
    }
    return s;
  }

  /** Releases every cached session. */
  async dispose(): Promise<void> {
    const sessions = await Promise.all(this.cache.values());
    this.cache.clear();
    await Promise.all(sessions.map((s) => s.release()));
  }
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
