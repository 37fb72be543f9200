/** The explorer's side panels, drawn from the explanations the page computes. */
import type { ClassExplanation, ClassScore } from '../explain/contributions.js';
import type { RegionConceptScore, RegionExplanation } from '../explain/explain-region.js';
import { el, percent, signed } from './dom.js';

/** How many classes the prediction panel lists before folding the rest. */
const CLASSES_SHOWN = 10;

/** Lists classes by probability; each is a button choosing it; `chosen` is highlighted. */
export function renderClasses(
  list: HTMLElement,
  ranking: readonly ClassScore[],
  chosen: number,
  choose: (cls: number) => void,
  before?: readonly ClassScore[],
): void {
  const was = new Map((before ?? []).map((c) => [c.index, c.probability]));
  const rows = ranking.slice(0, CLASSES_SHOWN).map((c, rank) => {
    const b = was.get(c.index);
    const bar = el('span', { class: 'bar' }, [el('span', { class: 'fill' })]);
    (bar.firstChild as HTMLElement).style.width = `${(100 * c.probability).toFixed(2)}%`;
    const button = el(
      'button',
      {
        class: `class-row${c.index === chosen ? ' chosen' : ''}${rank === 0 ? ' top' : ''}`,
        data: { index: c.index, probability: c.probability, logit: c.logit },
        attrs: { type: 'button' },
      },
      [
        el('span', { class: 'name', text: c.class }),
        bar,
        el('span', { class: 'value', text: percent(c.probability) }),
        el('span', { class: 'was', text: b !== undefined && Math.abs(b - c.probability) >= 5e-4 ? `was ${percent(b)}` : '' }),
      ],
    );
    button.addEventListener('click', () => choose(c.index));
    return el('li', {}, [button]);
  });
  const rest = ranking.length - CLASSES_SHOWN;
  list.replaceChildren(...rows, ...(rest > 0 ? [el('li', { class: 'more', text: `… ${rest} more (choose any class in the list below)` })] : []));
}

/** Callbacks of concept rows. */
export interface ConceptRowEvents {
  hover(concept: number | undefined): void;
  pin(concept: number): void;
}

function conceptRow(
  index: number,
  label: string,
  value: number,
  scale: number,
  valueText: string,
  pinned: boolean,
  events: ConceptRowEvents,
  extra: Record<string, number> = {},
  note?: string,
): HTMLElement {
  const width = scale > 0 ? Math.min(50, (50 * Math.abs(value)) / scale) : 0;
  const fill = el('span', { class: `fill ${value >= 0 ? 'pos' : 'neg'}` });
  fill.style.width = `${width.toFixed(2)}%`;
  if (value >= 0) fill.style.left = '50%';
  else fill.style.right = '50%';
  const row = el(
    'li',
    {
      class: `concept-row${pinned ? ' pinned' : ''}`,
      data: { concept: index, value, ...extra },
      attrs: { tabindex: '0' },
      title: 'hover: show its heatmap · click: pin it',
    },
    [
      el('span', { class: 'name', text: label }),
      el('span', { class: 'bar signed' }, [fill, el('span', { class: 'axis' })]),
      el('span', { class: 'value', text: valueText }),
      el('span', { class: 'was', text: note ?? '' }),
    ],
  );
  row.addEventListener('pointerenter', () => events.hover(index));
  row.addEventListener('pointerleave', () => events.hover(undefined));
  row.addEventListener('focus', () => events.hover(index));
  row.addEventListener('blur', () => events.hover(undefined));
  row.addEventListener('click', () => events.pin(index));
  row.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      events.pin(index);
    }
  });
  return row;
}

/**
 * The top contributions W_F·ĉ of a class as signed bars ("NOT concept" when ĉ < 0), with the
 * value before the interventions when there are some (`before`: contribution per concept).
 */
export function renderContributions(
  list: HTMLElement,
  line: HTMLElement,
  ex: ClassExplanation,
  pinned: number | undefined,
  events: ConceptRowEvents,
  before?: Float64Array,
): void {
  const scale = Math.max(1e-12, ...ex.contributions.map((c) => Math.abs(c.contribution)));
  list.replaceChildren(
    ...ex.contributions.map((c) => {
      const b = before?.[c.index];
      const note = b !== undefined && Math.abs(b - c.contribution) > 5e-4 ? `was ${signed(b)}` : undefined;
      return conceptRow(
        c.index,
        c.label,
        c.contribution,
        scale,
        signed(c.contribution),
        pinned === c.index,
        events,
        { contribution: c.contribution, standardised: c.standardised, weight: c.weight },
        note,
      );
    }),
  );
  if (ex.contributions.length === 0) list.replaceChildren(el('li', { class: 'empty', text: 'this class has no non-zero weights' }));
  const listed = ex.contributions.reduce((a, c) => a + c.contribution, 0);
  line.textContent = `logit ${ex.logit.toFixed(3)} = bias ${signed(ex.bias, 3)} ${listed >= 0 ? '+' : '−'} ${Math.abs(listed).toFixed(3)} (listed) ${ex.rest >= 0 ? '+' : '−'} ${Math.abs(ex.rest).toFixed(3)} (others)`;
}

/** Which region score ranks the Explain Anything list. */
export type RegionRanking = 'mean' | 'standardised';

/** The top concepts of a region. */
export function renderRegion(
  list: HTMLElement,
  label: HTMLElement,
  ex: RegionExplanation,
  by: RegionRanking,
  pinned: number | undefined,
  events: ConceptRowEvents,
): void {
  const rows: RegionConceptScore[] = by === 'mean' ? ex.byMean : ex.byStandardised;
  const scale = Math.max(1e-12, ...rows.map((r) => Math.abs(r[by])));
  label.textContent = `${ex.area} input pixels (${percent(ex.fraction)} of the input)${ex.warnings.length ? ` — ${ex.warnings.join('; ')}` : ''}`;
  list.replaceChildren(
    ...rows.map((r) =>
      conceptRow(r.index, r.concept, r[by], scale, by === 'mean' ? r.mean.toFixed(3) : signed(r.standardised), pinned === r.index, events, {
        mean: r.mean,
        sum: r.sum,
        standardised: r.standardised,
      }),
    ),
  );
}

/** The list of interventions, newest last. */
export function renderEdits(list: HTMLElement, edits: readonly { concept: string; beta: number; area: number; label: string }[]): void {
  list.replaceChildren(
    ...edits.map((e, i) =>
      el('li', { class: e.beta >= 0 ? 'pos' : 'neg', data: { beta: e.beta } }, [
        `${i + 1}. ${e.concept} ${e.beta >= 0 ? 'stronger' : 'weaker'}: β ${signed(e.beta, 2)} on ${e.label} (${e.area} px)`,
      ]),
    ),
  );
  if (edits.length === 0) list.replaceChildren(el('li', { class: 'empty', text: 'no interventions yet' }));
}
