/**
 * Decision rules drawn as a Sankey diagram (SVG), as in the paper's figures: concepts on the
 * left, classes on the right, one band per non-zero weight with its thickness proportional to
 * |W_F[l, m]| and its colour giving the sign.
 */
import type { DecisionRule } from './rules.js';
import { FONT, NEGATIVE, POSITIVE, esc, fit, short, textWidth } from './svg.js';

interface Link {
  concept: number;
  cls: number;
  weight: number;
}

/** The Sankey diagram of one or more classes' decision rules. */
export function sankeySvg(rules: readonly DecisionRule[], options: { title?: string } = {}): string {
  if (rules.length === 0) throw new Error('sankeySvg: no rules to draw');
  const concepts: string[] = [];
  const conceptIndex = new Map<string, number>();
  const links: Link[] = [];
  rules.forEach((r, l) => {
    for (const t of r.terms) {
      if (!conceptIndex.has(t.concept)) {
        conceptIndex.set(t.concept, concepts.length);
        concepts.push(t.concept);
      }
      links.push({ concept: conceptIndex.get(t.concept)!, cls: l, weight: t.weight });
    }
  });
  const single = rules.length === 1;
  const fontSize = 12.5;
  const total = links.reduce((a, k) => a + Math.abs(k.weight), 0);
  const leftTotals = concepts.map((_, c) => links.filter((k) => k.concept === c).reduce((a, k) => a + Math.abs(k.weight), 0));
  const rightTotals = rules.map((_, l) => links.filter((k) => k.cls === l).reduce((a, k) => a + Math.abs(k.weight), 0));
  const bandSpace = Math.max(220, 26 * Math.max(concepts.length, rules.length));
  const scale = total > 0 ? bandSpace / total : 0;
  const minSlot = 20;
  const gap = 6;
  const top = 62;

  const leftLabels = concepts.map((c, i) =>
    single ? `${c} (${links.find((k) => k.concept === i)!.weight >= 0 ? '+' : ''}${short(links.find((k) => k.concept === i)!.weight)})` : c,
  );
  const leftW = Math.min(320, Math.max(80, ...leftLabels.map((s) => textWidth(s, fontSize))) + 14);
  const rightW = Math.min(260, Math.max(80, ...rules.map((r) => textWidth(r.class, fontSize + 1.5))) + 20);
  const nodeW = 14;
  const flowW = 380;
  const W = leftW + nodeW + flowW + nodeW + rightW + 10;
  const lx = leftW;
  const rx = leftW + nodeW + flowW;

  // Node positions: stacked slots; each node's band area is its total |w| scaled.
  const place = (totals: number[]): { y: number; h: number }[] => {
    let y = top;
    return totals.map((t) => {
      const h = Math.max(t * scale, 2);
      const slot = Math.max(h, minSlot);
      const node = { y: y + (slot - h) / 2, h };
      y += slot + gap;
      return node;
    });
  };
  const left = place(leftTotals);
  let right = place(rightTotals);
  const bottom = (nodes: { y: number; h: number }[]): number => (nodes.length ? nodes[nodes.length - 1]!.y + nodes[nodes.length - 1]!.h : top);
  const shift = (bottom(left) - bottom(right)) / 2;
  if (shift > 0) right = right.map((n) => ({ y: n.y + shift, h: n.h }));
  const H = Math.max(bottom(left), bottom(right)) + 56;

  const parts: string[] = [];
  parts.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  const title = options.title ?? (single ? `Decision rule of "${rules[0]!.class}"` : `Decision rules of ${rules.length} classes`);
  parts.push(`<text x="12" y="24" font-size="16" font-weight="bold">${esc(fit(title, 16, W - 24))}</text>`);
  const sub = single
    ? `${rules[0]!.nonZeros} non-zero weight${rules[0]!.nonZeros === 1 ? '' : 's'}${rules[0]!.terms.length < rules[0]!.nonZeros ? ` (top ${rules[0]!.terms.length} shown)` : ''}, bias ${short(rules[0]!.bias)}; band width ∝ |weight|`
    : `non-zero weights: ${rules.map((r) => `${r.class} ${r.nonZeros}${r.terms.length < r.nonZeros ? ` (top ${r.terms.length} shown)` : ''}`).join(', ')}; band width ∝ |weight|`;
  parts.push(`<text x="12" y="44" font-size="12" fill="#444">${esc(fit(sub, 12, W - 24))}</text>`);

  // Bands, stacked within each node in drawing order.
  const leftUsed = left.map((n) => n.y);
  const rightUsed = right.map((n) => n.y);
  const order = [...links].sort((a, b) => a.cls - b.cls || Math.abs(b.weight) - Math.abs(a.weight));
  for (const k of order) {
    const t = Math.max(Math.abs(k.weight) * scale, 1);
    const y0 = leftUsed[k.concept]!;
    const y1 = rightUsed[k.cls]!;
    leftUsed[k.concept]! += t;
    rightUsed[k.cls]! += t;
    const x0 = lx + nodeW;
    const x1 = rx;
    const xm = (x0 + x1) / 2;
    const d = `M${x0},${y0.toFixed(1)} C${xm},${y0.toFixed(1)} ${xm},${y1.toFixed(1)} ${x1},${y1.toFixed(1)} L${x1},${(y1 + t).toFixed(1)} C${xm},${(y1 + t).toFixed(1)} ${xm},${(y0 + t).toFixed(1)} ${x0},${(y0 + t).toFixed(1)} Z`;
    const tip = `${concepts[k.concept]} → ${rules[k.cls]!.class}: ${short(k.weight)}`;
    parts.push(`<path d="${d}" fill="${k.weight >= 0 ? POSITIVE : NEGATIVE}" fill-opacity="0.55"><title>${esc(tip)}</title></path>`);
  }
  concepts.forEach((_, c) => {
    const n = left[c]!;
    parts.push(`<rect x="${lx}" y="${n.y.toFixed(1)}" width="${nodeW}" height="${n.h.toFixed(1)}" fill="#555"/>`);
    parts.push(
      `<text x="${lx - 6}" y="${(n.y + n.h / 2 + 4.5).toFixed(1)}" font-size="${fontSize}" text-anchor="end">${esc(fit(leftLabels[c]!, fontSize, leftW - 10))}</text>`,
    );
  });
  rules.forEach((r, l) => {
    const n = right[l]!;
    parts.push(`<rect x="${rx}" y="${n.y.toFixed(1)}" width="${nodeW}" height="${n.h.toFixed(1)}" fill="#222"/>`);
    parts.push(
      `<text x="${rx + nodeW + 6}" y="${(n.y + n.h / 2 + 5).toFixed(1)}" font-size="${fontSize + 1.5}" font-weight="bold">${esc(fit(r.class, fontSize + 1.5, rightW - 12))}</text>`,
    );
  });
  if (links.length === 0) parts.push(`<text x="${lx}" y="${top + 14}" font-size="13" fill="#a00">no non-zero weights</text>`);
  const ly = H - 20;
  parts.push(
    `<rect x="12" y="${ly - 10}" width="12" height="12" fill="${POSITIVE}" fill-opacity="0.7"/><text x="30" y="${ly}" font-size="12">positive weight (concept present → class more likely)</text>`,
  );
  parts.push(
    `<rect x="${Math.min(W - 230, 400)}" y="${ly - 10}" width="12" height="12" fill="${NEGATIVE}" fill-opacity="0.7"/><text x="${Math.min(W - 230, 400) + 18}" y="${ly}" font-size="12">negative weight</text>`,
  );
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H.toFixed(0)}" viewBox="0 0 ${W} ${H.toFixed(0)}" font-family="${esc(FONT)}">${parts.join('')}</svg>\n`;
}
