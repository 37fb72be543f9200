/**
 * Adam, step for step as `torch.optim.Adam` (single-tensor path, amsgrad off, maximize off):
 *
 *   g ← g + wd·θ  (when weightDecay > 0, L2 as in torch's Adam, not AdamW)
 *   m ← m + (g − m)(1 − β1)            v ← β2·v + (1 − β2)·g²
 *   θ ← θ − (lr / (1 − β1ᵗ)) · m / (√v / √(1 − β2ᵗ) + eps)
 *
 * State is kept in float32 like torch's float32 parameters. The parameters are small (M×D), so
 * this runs in plain JS.
 */

/** Adam hyper-parameters (torch's defaults). */
export interface AdamOptions {
  /** Learning rate; 1e-3. */
  lr?: number;
  /** β1; 0.9. */
  beta1?: number;
  /** β2; 0.999. */
  beta2?: number;
  /** Added to the denominator; 1e-8. */
  eps?: number;
  /** L2 penalty added to the gradient; 0. */
  weightDecay?: number;
}

/** Adam over one flat float32 parameter tensor. */
export class Adam {
  readonly lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  /** Number of steps taken. */
  step = 0;
  /** First-moment estimate. */
  readonly m: Float32Array;
  /** Second-moment estimate. */
  readonly v: Float32Array;

  constructor(
    readonly size: number,
    options: AdamOptions = {},
  ) {
    this.lr = options.lr ?? 1e-3;
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.eps = options.eps ?? 1e-8;
    this.weightDecay = options.weightDecay ?? 0;
    if (!(this.lr >= 0)) throw new Error(`Adam: invalid learning rate ${this.lr}`);
    if (!(this.beta1 >= 0 && this.beta1 < 1)) throw new Error(`Adam: invalid beta1 ${this.beta1}`);
    if (!(this.beta2 >= 0 && this.beta2 < 1)) throw new Error(`Adam: invalid beta2 ${this.beta2}`);
    if (!(this.eps >= 0)) throw new Error(`Adam: invalid eps ${this.eps}`);
    if (!(this.weightDecay >= 0)) throw new Error(`Adam: invalid weight decay ${this.weightDecay}`);
    this.m = new Float32Array(size);
    this.v = new Float32Array(size);
  }

  /** Restores the step count and moments saved from an Adam of the same size (checkpoints). */
  restore(state: { step: number; m: Float32Array; v: Float32Array }): void {
    if (state.m.length !== this.size || state.v.length !== this.size || !Number.isInteger(state.step) || state.step < 0) {
      throw new Error(`Adam.restore: expected a step count and ${this.size} moments`);
    }
    this.step = state.step;
    this.m.set(state.m);
    this.v.set(state.v);
  }

  /** Updates `params` in place from `grad` (same length). */
  update(params: Float32Array, grad: Float32Array): void {
    if (params.length !== this.size || grad.length !== this.size) {
      throw new Error(`Adam: expected ${this.size} parameters and gradients, got ${params.length} and ${grad.length}`);
    }
    this.step += 1;
    const { beta1, beta2, eps, weightDecay, m, v } = this;
    const stepSize = this.lr / (1 - beta1 ** this.step);
    const bc2Sqrt = Math.sqrt(1 - beta2 ** this.step);
    const w1 = 1 - beta1;
    const w2 = 1 - beta2;
    for (let i = 0; i < this.size; i++) {
      let g = grad[i]!;
      if (weightDecay !== 0) g = Math.fround(g + weightDecay * params[i]!);
      const mi = (m[i] = m[i]! + (g - m[i]!) * w1);
      const vi = (v[i] = v[i]! * beta2 + w2 * g * g);
      const denom = Math.fround(Math.fround(Math.sqrt(vi)) / bc2Sqrt) + eps;
      params[i] = params[i]! - (stepSize * mi) / Math.fround(denom);
    }
  }
}
