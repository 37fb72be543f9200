/**
 * "Tell what" (SPEC step 5): the contribution of concept m to the logit of class l is
 * S(x, m, l) = W_F[l, m] · ĉ(x)[m], with ĉ the standardised activation, so that
 * logit_l = b_F[l] + Σ_m S(x, m, l). A negative ĉ reads "NOT concept": the concept is less
 * present than on average in the training set.
 */
import type { ConceptModel } from '../models/concept-model.js';
import type { ImageOutputs } from './analyse.js';

/** One concept's part in one class's logit. */
export interface ConceptContribution {
  concept: string;
  /** Concept index m. */
  index: number;
  /** The concept, or "NOT <concept>" when its standardised activation is negative. */
  label: string;
  /** W_F[l, m]. */
  weight: number;
  /** Pooled activation c*(x)[m]. */
  activation: number;
  /** Standardised activation ĉ(x)[m]. */
  standardised: number;
  /** W_F[l, m] · ĉ(x)[m]. */
  contribution: number;
}

/** Why an image gets (or does not get) one class. */
export interface ClassExplanation {
  class: string;
  /** Class index l. */
  index: number;
  logit: number;
  probability: number;
  /** b_F[l]. */
  bias: number;
  /** The top-k contributions by absolute value (concepts with a zero weight are never listed). */
  contributions: ConceptContribution[];
  /** Sum of the contributions not listed: logit = bias + Σ listed + rest. */
  rest: number;
}

/** A class with its probability. */
export interface ClassScore {
  class: string;
  index: number;
  logit: number;
  probability: number;
}

/** Softmax of logits, computed stably in float64. */
export function softmax(logits: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]!);
  const e = Float64Array.from({ length: logits.length }, (_, i) => Math.exp(logits[i]! - max));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / sum);
}

/** Classes sorted by probability, highest first. */
export function rankClasses(model: Pick<ConceptModel, 'classes'>, logits: ArrayLike<number>): ClassScore[] {
  const p = softmax(logits);
  return model.classes
    .map((c, i) => ({ class: c, index: i, logit: logits[i]!, probability: p[i]! }))
    .sort((a, b) => b.probability - a.probability || a.index - b.index);
}

/** The label of a concept given the sign of its standardised activation. */
export function conceptLabel(concept: string, standardised: number): string {
  return standardised < 0 ? `NOT ${concept}` : concept;
}

/** The contribution of every concept to class `cls`'s logit (length M, W_F[cls, :] ⊙ ĉ). */
export function allContributions(model: Pick<ConceptModel, 'concepts' | 'head'>, standardised: ArrayLike<number>, cls: number): Float64Array {
  const M = model.concepts.length;
  const w = model.head.finalWeight;
  return Float64Array.from({ length: M }, (_, m) => w[cls * M + m]! * standardised[m]!);
}

/** Explains class `cls` for one image's outputs: its top-`topK` concept contributions. */
export function explainClass(model: Pick<ConceptModel, 'concepts' | 'classes' | 'head'>, out: ImageOutputs, cls: number, topK = 5): ClassExplanation {
  const M = model.concepts.length;
  if (!(Number.isInteger(cls) && cls >= 0 && cls < model.classes.length)) throw new Error(`class index ${cls} is out of range`);
  const s = allContributions(model, out.standardised, cls);
  const w = model.head.finalWeight;
  const order = Array.from({ length: M }, (_, m) => m)
    .filter((m) => w[cls * M + m] !== 0)
    .sort((a, b) => Math.abs(s[b]!) - Math.abs(s[a]!) || a - b);
  const listed = order.slice(0, Math.max(0, topK));
  const total = s.reduce((a, b) => a + b, 0);
  const listedSum = listed.reduce((a, m) => a + s[m]!, 0);
  const p = softmax(out.logits);
  return {
    class: model.classes[cls]!,
    index: cls,
    logit: out.logits[cls]!,
    probability: p[cls]!,
    bias: model.head.finalBias[cls]!,
    contributions: listed.map((m) => ({
      concept: model.concepts[m]!,
      index: m,
      label: conceptLabel(model.concepts[m]!, out.standardised[m]!),
      weight: w[cls * M + m]!,
      activation: out.activations[m]!,
      standardised: out.standardised[m]!,
      contribution: s[m]!,
    })),
    rest: total - listedSum,
  };
}
