/**
 * Pictures for people: the part of the image the model sees, heatmaps of concept maps overlaid
 * on it (the perceptual colormap of `heatmap.ts`, each with a colour bar giving the map's value
 * range), region outlines, and the contribution bar chart (SVG, also rendered to PNG).
 */
import sharp, { type OverlayOptions } from 'sharp';
import type { RgbImage } from '../data/rgb-image.js';
import type { PreparedImage } from './analyse.js';
import type { ClassExplanation } from './contributions.js';
import type { RegionExplanation } from './explain-region.js';
import { visibleRect } from './geometry.js';
import { blend, colourise, colormapHex, upsampleBilinear, valueRange } from './heatmap.js';
import type { RasterRegion } from './regions.js';
import { FONT, NEGATIVE, POSITIVE, esc, fit, short, signed, textWidth } from './svg.js';

/**
 * The part of the original image the model sees (after the resize and crop), resized so its
 * longer side is `longSide` px. Its pixels line up with the model input's (up to rounding of
 * the crop to whole pixels of the original).
 */
export async function makeView(p: PreparedImage, longSide = 320): Promise<RgbImage> {
  const [x0, y0, x1, y1] = visibleRect(p.geometry);
  const left = Math.max(0, Math.floor(x0 + 1e-6));
  const top = Math.max(0, Math.floor(y0 + 1e-6));
  const width = Math.min(p.image.width, Math.ceil(x1 - 1e-6)) - left;
  const height = Math.min(p.image.height, Math.ceil(y1 - 1e-6)) - top;
  const scale = longSide / Math.max(x1 - x0, y1 - y0);
  const vw = Math.max(1, Math.round((x1 - x0) * scale));
  const vh = Math.max(1, Math.round((y1 - y0) * scale));
  const { data, info } = await sharp(Buffer.from(p.image.data.buffer, p.image.data.byteOffset, p.image.data.byteLength), {
    raw: { width: p.image.width, height: p.image.height, channels: 3 },
  })
    .extract({ left, top, width, height })
    .resize(vw, vh, { fit: 'fill', kernel: vw >= width ? 'linear' : 'lanczos3' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height };
}

/** The image in grey (Rec. 709 luma), so an overlaid colormap keeps its own colours. */
export function greyscale(img: RgbImage): RgbImage {
  const data = new Uint8Array(img.data.length);
  for (let i = 0; i < data.length; i += 3) {
    const y = Math.round(0.2126 * img.data[i]! + 0.7152 * img.data[i + 1]! + 0.0722 * img.data[i + 2]!);
    data[i] = y;
    data[i + 1] = y;
    data[i + 2] = y;
  }
  return { data, width: img.width, height: img.height };
}

/**
 * The view (in grey) with a grid map upsampled bilinearly to it and overlaid, coloured over the
 * range [lo, hi] (the map's own range by default).
 */
export function overlayHeatmap(view: RgbImage, map: ArrayLike<number>, grid: readonly [number, number], range?: [number, number], alpha = 0.6): RgbImage {
  const [lo, hi] = range ?? valueRange(map);
  const up = upsampleBilinear(map, grid[0], grid[1], view.height, view.width);
  return { data: blend(greyscale(view).data, colourise(up, lo, hi), alpha), width: view.width, height: view.height };
}

/** Draws a region's outline (white, with a dark edge outside) onto a copy of the view. */
export function outlineRegion(view: RgbImage, region: RasterRegion): RgbImage {
  const { width: w, height: h } = view;
  const S = region.size;
  const inside = new Uint8Array(w * h);
  for (let j = 0; j < h; j++) {
    const v = Math.min(S - 1, Math.floor(((j + 0.5) * S) / h));
    for (let i = 0; i < w; i++) inside[j * w + i] = region.mask[v * S + Math.min(S - 1, Math.floor(((i + 0.5) * S) / w))]!;
  }
  const at = (i: number, j: number): number => (i < 0 || j < 0 || i >= w || j >= h ? 0 : inside[j * w + i]!);
  const data = Uint8Array.from(view.data);
  for (let j = 0; j < h; j++) {
    for (let i = 0; i < w; i++) {
      const me = at(i, j);
      const edge = at(i - 1, j) !== me || at(i + 1, j) !== me || at(i, j - 1) !== me || at(i, j + 1) !== me;
      if (!edge) continue;
      data.set(me ? [255, 255, 255] : [20, 20, 20], (j * w + i) * 3);
    }
  }
  return { data, width: w, height: h };
}

/** One tile of a figure. */
export interface FigurePanel {
  /** The picture (all panels of a figure have the same size). */
  image: RgbImage;
  title: string;
  subtitle?: string;
  /** Draw a colour bar for this value range under the picture. */
  legend?: { lo: number; hi: number; label?: string };
}

/** Lays panels out in rows of `columns`, with titles and colour bars; returns PNG bytes. */
export async function renderFigure(panels: readonly FigurePanel[], options: { columns?: number; heading?: string } = {}): Promise<Buffer> {
  if (panels.length === 0) throw new Error('renderFigure: no panels');
  const { width: pw, height: ph } = panels[0]!.image;
  for (const p of panels) if (p.image.width !== pw || p.image.height !== ph) throw new Error('renderFigure: panels differ in size');
  const cols = Math.max(1, Math.min(options.columns ?? 4, panels.length));
  const rows = Math.ceil(panels.length / cols);
  const pad = 12;
  const headH = options.heading ? 34 : 0;
  const titleH = 40;
  const legendH = 38;
  const tileW = pw + pad;
  const tileH = titleH + ph + legendH;
  const W = cols * tileW + pad;
  const H = headH + rows * tileH + pad;
  const parts: string[] = [];
  const stops = Array.from({ length: 11 }, (_, k) => `<stop offset="${k / 10}" stop-color="${colormapHex(k / 10)}"/>`).join('');
  parts.push(`<defs><linearGradient id="cmap" x1="0" x2="1" y1="0" y2="0">${stops}</linearGradient></defs>`);
  if (options.heading) parts.push(`<text x="${pad}" y="24" font-size="17" font-weight="bold">${esc(fit(options.heading, 17, W - 2 * pad))}</text>`);
  const composites: OverlayOptions[] = [];
  panels.forEach((p, k) => {
    const x = pad + (k % cols) * tileW;
    const y = headH + Math.floor(k / cols) * tileH;
    parts.push(`<text x="${x}" y="${y + 17}" font-size="14" font-weight="bold">${esc(fit(p.title, 14, pw))}</text>`);
    if (p.subtitle) parts.push(`<text x="${x}" y="${y + 34}" font-size="12" fill="#333">${esc(fit(p.subtitle, 12, pw))}</text>`);
    composites.push({
      input: Buffer.from(p.image.data.buffer, p.image.data.byteOffset, p.image.data.byteLength),
      raw: { width: pw, height: ph, channels: 3 },
      left: x,
      top: y + titleH,
    });
    if (p.legend) {
      const ly = y + titleH + ph + 6;
      const lo = short(p.legend.lo);
      const hi = short(p.legend.hi);
      const barX = x + textWidth(lo, 11) + 6;
      const barW = Math.max(20, pw - textWidth(lo, 11) - textWidth(hi, 11) - 12);
      parts.push(`<text x="${x}" y="${ly + 11}" font-size="11">${esc(lo)}</text>`);
      parts.push(`<rect x="${barX}" y="${ly + 1}" width="${barW}" height="12" fill="url(#cmap)" stroke="#555" stroke-width="0.5"/>`);
      parts.push(`<text x="${barX + barW + 6}" y="${ly + 11}" font-size="11">${esc(hi)}</text>`);
      parts.push(
        `<text x="${x + pw / 2}" y="${ly + 27}" font-size="10.5" fill="#555" text-anchor="middle">${esc(p.legend.label ?? 'concept map value')}</text>`,
      );
    }
  });
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="${esc(FONT)}">${parts.join('')}</svg>`;
  composites.push({ input: Buffer.from(svg), left: 0, top: 0 });
  return sharp({ create: { width: W, height: H, channels: 3, background: '#ffffff' } })
    .composite(composites)
    .png()
    .toBuffer();
}

/**
 * The figure of one class explanation: the view, then each listed concept's heatmap overlaid
 * (its own colour range, from the grid map's minimum to maximum).
 */
export async function renderExplanationFigure(
  view: RgbImage,
  explanation: ClassExplanation,
  maps: (m: number) => ArrayLike<number>,
  grid: readonly [number, number],
  heading: string,
): Promise<Buffer> {
  const panels: FigurePanel[] = [
    {
      image: view,
      title: 'image (as the model sees it)',
      subtitle: `${explanation.class}: p = ${explanation.probability.toFixed(3)}, logit ${short(explanation.logit)}`,
    },
  ];
  for (const c of explanation.contributions) {
    const map = maps(c.index);
    const [lo, hi] = valueRange(map);
    panels.push({
      image: overlayHeatmap(view, map, grid, [lo, hi]),
      title: c.label,
      subtitle: `contribution ${signed(c.contribution)} (w ${short(c.weight)} × ĉ ${short(c.standardised)})`,
      legend: { lo, hi, label: `"${fit(c.concept, 10.5, view.width - 90)}" map value` },
    });
  }
  return renderFigure(panels, { heading });
}

/** A horizontal bar chart of one class's contributions, with the rest and the bias (SVG). */
export function contributionBarsSvg(e: ClassExplanation): string {
  const rows = [
    ...e.contributions.map((c) => ({ label: c.label, value: c.contribution, note: `w ${short(c.weight)} × ĉ ${short(c.standardised)}`, grey: false })),
    ...(Math.abs(e.rest) > 0 ? [{ label: 'other concepts', value: e.rest, note: '', grey: true }] : []),
    { label: 'bias', value: e.bias, note: '', grey: true },
  ];
  const fontSize = 13;
  const labelW = Math.min(300, Math.max(90, ...rows.map((r) => textWidth(r.label, fontSize))) + 16);
  const chartW = 440;
  const noteW = 170;
  const W = labelW + chartW + noteW + 20;
  const rowH = 26;
  const top = 58;
  const H = top + rows.length * rowH + 44;
  const maxAbs = Math.max(1e-12, ...rows.map((r) => Math.abs(r.value)));
  const half = (chartW - 110) / 2;
  const zero = labelW + 55 + half;
  const parts: string[] = [];
  parts.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  parts.push(`<text x="12" y="24" font-size="16" font-weight="bold">${esc(fit(`Why "${e.class}"? Concept contributions W_F·ĉ`, 16, W - 24))}</text>`);
  parts.push(
    `<text x="12" y="44" font-size="12.5" fill="#333">${esc(`logit ${short(e.logit)} = bias + Σ contributions;  p = ${e.probability.toFixed(3)}`)}</text>`,
  );
  parts.push(`<line x1="${zero}" x2="${zero}" y1="${top - 4}" y2="${top + rows.length * rowH}" stroke="#444" stroke-width="1"/>`);
  rows.forEach((r, k) => {
    const y = top + k * rowH;
    const len = (Math.abs(r.value) / maxAbs) * half;
    const x = r.value >= 0 ? zero : zero - len;
    const colour = r.grey ? '#9a9a9a' : r.value >= 0 ? POSITIVE : NEGATIVE;
    parts.push(
      `<text x="${labelW - 8}" y="${y + 17}" font-size="${fontSize}" text-anchor="end"${r.grey ? ' fill="#555" font-style="italic"' : ''}>${esc(fit(r.label, fontSize, labelW - 12))}</text>`,
    );
    parts.push(`<rect x="${x.toFixed(1)}" y="${y + 4}" width="${Math.max(len, 0.5).toFixed(1)}" height="${rowH - 8}" fill="${colour}"/>`);
    const vx = r.value >= 0 ? zero + len + 5 : zero - len - 5;
    parts.push(`<text x="${vx.toFixed(1)}" y="${y + 17}" font-size="12" text-anchor="${r.value >= 0 ? 'start' : 'end'}">${esc(signed(r.value))}</text>`);
    if (r.note) parts.push(`<text x="${labelW + chartW + 6}" y="${y + 17}" font-size="11" fill="#666">${esc(r.note)}</text>`);
  });
  const ly = top + rows.length * rowH + 24;
  parts.push(`<rect x="12" y="${ly - 10}" width="12" height="12" fill="${POSITIVE}"/><text x="30" y="${ly}" font-size="12">raises the logit</text>`);
  parts.push(`<rect x="150" y="${ly - 10}" width="12" height="12" fill="${NEGATIVE}"/><text x="168" y="${ly}" font-size="12">lowers the logit</text>`);
  parts.push(`<text x="300" y="${ly}" font-size="12" fill="#555">"NOT c": concept c below its training average (ĉ &lt; 0)</text>`);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="${esc(FONT)}">${parts.join('')}</svg>\n`;
}

/**
 * The figure of one Explain Anything region: the view with the region outlined, then the
 * heatmaps of the region's top concepts (by summed activation), each outlined too.
 */
export async function renderRegionFigure(
  view: RgbImage,
  region: RasterRegion,
  explanation: RegionExplanation,
  maps: (m: number) => ArrayLike<number>,
  grid: readonly [number, number],
  heading: string,
): Promise<Buffer> {
  const panels: FigurePanel[] = [
    {
      image: outlineRegion(view, region),
      title: `region ${explanation.region}`,
      subtitle: `${explanation.area} input pixels (${(100 * explanation.fraction).toFixed(1)}% of the image)`,
    },
  ];
  for (const s of explanation.bySum) {
    const map = maps(s.index);
    const [lo, hi] = valueRange(map);
    panels.push({
      image: outlineRegion(overlayHeatmap(view, map, grid, [lo, hi]), region),
      title: s.concept,
      subtitle: `mean in region ${short(s.mean)} (standardised ${signed(s.standardised)})`,
      legend: { lo, hi, label: `"${fit(s.concept, 10.5, view.width - 90)}" map value` },
    });
  }
  return renderFigure(panels, { heading });
}

/**
 * The figure of an intervention: for each edited concept, its heatmap before and after the edit
 * on one colour range, with the edit's regions outlined.
 */
export async function renderInterventionFigure(
  view: RgbImage,
  edited: { concept: string; before: ArrayLike<number>; after: ArrayLike<number>; regions: RasterRegion[]; note: string }[],
  grid: readonly [number, number],
  heading: string,
): Promise<Buffer> {
  const panels: FigurePanel[] = [];
  for (const e of edited) {
    const [lo0, hi0] = valueRange(e.before);
    const [lo1, hi1] = valueRange(e.after);
    const range: [number, number] = [Math.min(lo0, lo1), Math.max(hi0, hi1)];
    const outline = (img: RgbImage): RgbImage => e.regions.reduce((acc, r) => outlineRegion(acc, r), img);
    const legend = { lo: range[0], hi: range[1], label: `"${fit(e.concept, 10.5, view.width - 90)}" map value` };
    panels.push({ image: outline(overlayHeatmap(view, e.before, grid, range)), title: `${e.concept}: before`, subtitle: 'concept map as computed', legend });
    panels.push({ image: outline(overlayHeatmap(view, e.after, grid, range)), title: `${e.concept}: after`, subtitle: e.note, legend });
  }
  return renderFigure(panels, { heading, columns: 2 });
}
