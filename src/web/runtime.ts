/**
 * The exported model in the browser with ONNX Runtime Web, loaded from the explorer's server
 * (`/ort/`, the installed package's files): WebGPU when the browser offers an adapter, else
 * WebAssembly (multi-threaded when the page is cross-origin isolated, which the server's headers
 * make it).
 */
import type * as Ort from 'onnxruntime-web';
import type { ImageOutputs } from '../explain/analyse.js';
import type { ExplorerModel } from './core/manifest.js';

/** Where the server sends ONNX Runtime Web from. */
export const ORT_BASE = '/ort/';
/** The ONNX Runtime Web build with the WebGPU and WebAssembly backends. */
export const ORT_MODULE = `${ORT_BASE}ort.webgpu.min.mjs`;

/** The export's output names (`HEAD_OUTPUTS` in `models/salf-head.ts`; a test keeps them equal). */
export const OUTPUT_NAMES = {
  logits: 'logits',
  conceptMaps: 'concept_maps',
  activations: 'concept_activations',
  standardised: 'concept_standardised',
} as const;

/** Which ONNX Runtime backend runs the model. */
export type Backend = 'webgpu' | 'wasm';

type WebGpuNavigator = Navigator & { gpu?: { requestAdapter(): Promise<unknown> } };

/** The model's session in the page. */
export class BrowserModel {
  private constructor(
    readonly model: ExplorerModel,
    readonly backend: Backend,
    /** Why WebGPU is not used, when it is not. */
    readonly fallbackReason: string | undefined,
    private readonly ort: typeof Ort,
    private readonly session: Ort.InferenceSession,
  ) {}

  /** Loads ONNX Runtime Web and opens the model; `prefer: 'wasm'` skips WebGPU. */
  static async open(model: ExplorerModel, bytes: Uint8Array, prefer?: Backend): Promise<BrowserModel> {
    const ort = (await import(ORT_MODULE)) as typeof Ort;
    ort.env.wasm.wasmPaths = ORT_BASE;
    ort.env.wasm.numThreads = globalThis.crossOriginIsolated ? Math.max(1, Math.min(4, navigator.hardwareConcurrency || 1)) : 1;
    ort.env.logLevel = 'error';
    let reason: string | undefined;
    if (prefer === 'wasm') reason = 'WebAssembly was asked for';
    else {
      const gpu = (navigator as WebGpuNavigator).gpu;
      let adapter: unknown = null;
      if (gpu) {
        try {
          adapter = await gpu.requestAdapter();
        } catch {
          adapter = null;
        }
      }
      if (!gpu) reason = 'this browser has no WebGPU';
      else if (!adapter) reason = 'no WebGPU adapter is available';
      else {
        try {
          const session = await ort.InferenceSession.create(bytes, { executionProviders: ['webgpu'] });
          return new BrowserModel(model, 'webgpu', undefined, ort, session);
        } catch (err) {
          reason = `WebGPU failed (${err instanceof Error ? err.message : String(err)})`;
        }
      }
    }
    const session = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
    return new BrowserModel(model, 'wasm', reason, ort, session);
  }

  /** Runs one image's normalised pixels (3×S×S) and returns its outputs. */
  async run(pixels: Float32Array): Promise<ImageOutputs> {
    const S = this.model.preprocess.resize.size;
    const per = 3 * S * S;
    if (pixels.length !== per) throw new Error(`expected 3×${S}×${S} pixel values, got ${pixels.length}`);
    const batch = this.model.fixedBatch ?? 1;
    let x = pixels;
    if (batch > 1) {
      x = new Float32Array(batch * per);
      x.set(pixels);
    }
    const input = new this.ort.Tensor('float32', x, [batch, 3, S, S]);
    const out = await this.session.run({ [this.model.inputName]: input });
    const M = this.model.concepts.length;
    const L = this.model.classes.length;
    const G = this.model.grid[0] * this.model.grid[1];
    const get = (name: string, n: number): Float32Array => {
      const t = out[name];
      if (!t) throw new Error(`the model gave no output ${name}`);
      const data = t.data;
      if (!(data instanceof Float32Array) || data.length < n) throw new Error(`output ${name} is not float32 with ${n} values`);
      return Float32Array.from(data.subarray(0, n));
    };
    const res: ImageOutputs = {
      logits: get(OUTPUT_NAMES.logits, L),
      conceptMaps: get(OUTPUT_NAMES.conceptMaps, M * G),
      activations: get(OUTPUT_NAMES.activations, M),
      standardised: get(OUTPUT_NAMES.standardised, M),
    };
    for (const t of Object.values(out)) t.dispose();
    input.dispose();
    return res;
  }
}
