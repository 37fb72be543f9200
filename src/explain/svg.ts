/**
 * Small helpers for the SVG pictures: escaping, text width estimates, rendering to PNG. `sharp`
 * is loaded only when a picture is rendered, so the SVG code also runs in the explorer page.
 */

/** Font stack of every picture (DejaVu Sans is the usual font on Linux machines). */
export const FONT = "'DejaVu Sans', Verdana, Arial, sans-serif";

/** Colours of positive and negative weights/contributions (colour-blind safe pair). */
export const POSITIVE = '#1b7fbd';
export const NEGATIVE = '#e0661b';

/** Escapes text for SVG content and attribute values. */
export function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

/** A rough width of `text` in a sans-serif font of `size` px (for layout). */
export function textWidth(text: string, size: number): number {
  return text.length * size * 0.6;
}

/** `text` cut to about `maxWidth` px with an ellipsis. */
export function fit(text: string, size: number, maxWidth: number): string {
  const max = Math.max(4, Math.floor(maxWidth / (size * 0.6)));
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** A number with a sign and `digits` decimals. */
export function signed(v: number, digits = 2): string {
  return `${v >= 0 ? '+' : '−'}${Math.abs(v).toFixed(digits)}`;
}

/** A number in a short form (3 significant digits, no exponent for usual sizes). */
export function short(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e4 || a < 1e-3) return v.toExponential(2);
  return Number(v.toPrecision(3)).toString().replace('-', '−');
}

/** Renders an SVG document to PNG bytes. */
export async function svgToPng(svg: string): Promise<Buffer> {
  const { default: sharp } = await import('sharp');
  return sharp(Buffer.from(svg), { density: 96 }).png().toBuffer();
}
