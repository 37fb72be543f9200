/**
 * Decision rules (SPEC step 5): for class l, the concepts with a non-zero final-layer weight
 * W_F[l, m] and their weights. With the sparse final layer these are short lists; a weight
 * counts as non-zero when |w| > 1e-5, SPEC's sparsity threshold.
 */
import type { ConceptModel } from '../models/concept-model.js';

/** SPEC's threshold for a non-zero weight. */
export const NONZERO_THRESHOLD = 1e-5;

/** One term of a class's rule. */
export interface RuleTerm {
  concept: string;
  index: number;
  weight: number;
}

/** A class's decision rule: logit = bias + Σ weight · ĉ[concept]. */
export interface DecisionRule {
  class: string;
  index: number;
  bias: number;
  /** Non-zero weights, largest |weight| first. */
  terms: RuleTerm[];
  /** Number of non-zero weights (terms may be cut to a top-k). */
  nonZeros: number;
}

/** The decision rule of class `cls`, keeping the `topK` largest weights (all by default). */
export function decisionRule(model: Pick<ConceptModel, 'concepts' | 'classes' | 'head'>, cls: number, topK = Infinity): DecisionRule {
  const M = model.concepts.length;
  if (!(Number.isInteger(cls) && cls >= 0 && cls < model.classes.length)) throw new Error(`class index ${cls} is out of range`);
  const w = model.head.finalWeight;
  const terms = model.concepts
    .map((concept, m) => ({ concept, index: m, weight: w[cls * M + m]! }))
    .filter((t) => Math.abs(t.weight) > NONZERO_THRESHOLD)
    .sort((a, b) => Math.abs(b.weight) - Math.abs(a.weight) || a.index - b.index);
  return { class: model.classes[cls]!, index: cls, bias: model.head.finalBias[cls]!, terms: terms.slice(0, topK), nonZeros: terms.length };
}
