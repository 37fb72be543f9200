/**
 * The concept report: which concepts each filter dropped and the value that decided it. One
 * format serves the step-1 filters (`concepts filter`) and the interpretability cutoff after the
 * concept layer is trained (SPEC step 3), so a user reads every decision the same way.
 */

/** The filters, in the order SPEC applies them. */
export type ConceptStage = 'length' | 'class-similarity' | 'near-duplicate' | 'absent-from-data' | 'interpretability';

/** One dropped concept. */
export interface DroppedConcept {
  concept: string;
  /**
   * The value compared with the stage's threshold: the length in characters (`length`), a text
   * similarity (`class-similarity`, `near-duplicate`; 1 for an exact class-name match), the mean
   * top-k CLIP image similarity (`absent-from-data`) or the validation similarity
   * (`interpretability`).
   */
  value: number;
  /** The class name (`class-similarity`) or kept concept (`near-duplicate`) it was too similar to. */
  match?: string;
  /** Extra facts, e.g. `text match` or the summed similarities that chose which duplicate went. */
  note?: string;
}

/** What one stage did. */
export interface StageReport {
  stage: ConceptStage;
  /** The rule in words, e.g. `dropped when longer than 30 characters`. */
  rule: string;
  threshold: number;
  /** What `value` measures, e.g. `characters` or `text similarity (CLIP)`. */
  measure: string;
  /** Concepts that entered the stage. */
  input: number;
  dropped: DroppedConcept[];
  /** Why the stage did not run (nothing was dropped then). */
  skipped?: string;
}

/** A whole report: the stages in the order they ran. */
export interface ConceptReport {
  format: 'salf-cbm/concept-report';
  version: 1;
  /** Concepts given to the first stage. */
  given: number;
  /** Concepts that passed every stage, in output order. */
  kept: string[];
  stages: StageReport[];
  /** Settings that produced it (models, thresholds, data), for the record. */
  settings?: Record<string, unknown>;
}

/** A new report over the given stages. */
export function conceptReport(given: number, kept: string[], stages: StageReport[], settings?: Record<string, unknown>): ConceptReport {
  return { format: 'salf-cbm/concept-report', version: 1, given, kept, stages, ...(settings ? { settings } : {}) };
}

/**
 * What the interpretability cutoff decided: training/train-cbl.ts's `CutoffReport` has this
 * shape (declared here so that the report format depends on nothing in training/).
 */
export interface CutoffDecisions {
  cutoff: number;
  /** Per concept, the validation similarity. */
  similarity: ArrayLike<number>;
  /** Indices of the kept concepts. */
  kept: readonly number[];
  /** Dropped concepts with their similarity. */
  dropped: readonly { index: number; similarity: number }[];
}

/**
 * The interpretability cutoff (SPEC step 3) as a report stage: `concepts` are the names the
 * concept layer was trained on, in weight order (the indices of `report`).
 */
export function interpretabilityStage(report: CutoffDecisions, concepts: readonly string[]): StageReport {
  if (report.similarity.length !== concepts.length) {
    throw new Error(`interpretability report: ${report.similarity.length} similarities for ${concepts.length} concepts`);
  }
  return {
    stage: 'interpretability',
    rule: `dropped when the validation similarity is not above ${report.cutoff}`,
    threshold: report.cutoff,
    measure: 'validation similarity (cubic cosine, mean over grid positions)',
    input: concepts.length,
    dropped: report.dropped.map((d) => {
      const concept = concepts[d.index];
      if (concept === undefined) throw new Error(`interpretability report: concept index ${d.index} out of range (${concepts.length} concepts)`);
      return { concept, value: d.similarity };
    }),
  };
}

/** A whole report for the interpretability cutoff alone (e.g. for a model's metrics). */
export function conceptReportFromCutoff(report: CutoffDecisions, concepts: readonly string[]): ConceptReport {
  const stage = interpretabilityStage(report, concepts);
  return conceptReport(
    concepts.length,
    report.kept.map((m) => concepts[m]!),
    [stage],
  );
}

/**
 * Appends `stage` to `base` (e.g. the training cutoff after the step-1 filters); `kept` becomes
 * the stage's survivors, which must be a subset of `base.kept` minus the stage's drops.
 */
export function appendStage(base: ConceptReport, stage: StageReport, kept: string[]): ConceptReport {
  return { ...base, kept, stages: [...base.stages, stage] };
}

function fmt(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toFixed(3);
}

/** The report as text, one line per decision, for people. */
export function formatConceptReport(report: ConceptReport): string {
  const lines = [`concepts: ${report.given} given, ${report.kept.length} kept`];
  for (const s of report.stages) {
    if (s.skipped !== undefined) {
      lines.push(`${s.stage}: skipped (${s.skipped})`);
      continue;
    }
    lines.push(`${s.stage}: ${s.dropped.length} of ${s.input} dropped (${s.rule}; ${s.measure})`);
    for (const d of s.dropped) {
      const match = d.match !== undefined ? ` ~ "${d.match}"` : '';
      const note = d.note !== undefined ? ` [${d.note}]` : '';
      lines.push(`  - "${d.concept}"${match}: ${fmt(d.value)}${note}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/** Checks that `value` looks like a {@link ConceptReport}; `where` names the file in errors. */
export function parseConceptReport(value: unknown, where: string): ConceptReport {
  const r = value as Partial<ConceptReport> | null;
  if (typeof r !== 'object' || r === null || r.format !== 'salf-cbm/concept-report' || !Array.isArray(r.stages) || !Array.isArray(r.kept)) {
    throw new Error(`${where}: not a salf-cbm concept report (expected "format": "salf-cbm/concept-report")`);
  }
  if (r.version !== 1) throw new Error(`${where}: unsupported concept report version ${String(r.version)}`);
  return r as ConceptReport;
}
