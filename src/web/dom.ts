/** Small DOM helpers for the explorer page. */

/** The element with id `id`; throws when the page lacks it. */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const e = document.getElementById(id);
  if (!e) throw new Error(`the page has no #${id}`);
  return e as T;
}

/** Attributes and properties for {@link el}. */
export interface ElementSpec {
  class?: string;
  text?: string;
  title?: string;
  /** `data-*` attributes (without the prefix). */
  data?: Record<string, string | number>;
  attrs?: Record<string, string>;
}

/** Creates an element with text, classes and data attributes, and appends `children`. */
export function el<K extends keyof HTMLElementTagNameMap>(tag: K, spec: ElementSpec = {}, children: (Node | string)[] = []): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (spec.class) e.className = spec.class;
  if (spec.text !== undefined) e.textContent = spec.text;
  if (spec.title) e.title = spec.title;
  for (const [k, v] of Object.entries(spec.data ?? {})) e.dataset[k] = String(v);
  for (const [k, v] of Object.entries(spec.attrs ?? {})) e.setAttribute(k, v);
  for (const c of children) e.append(c);
  return e;
}

/** A number with a sign and `digits` decimals (− as the minus sign). */
export function signed(v: number, digits = 2): string {
  return `${v >= 0 ? '+' : '−'}${Math.abs(v).toFixed(digits)}`;
}

/** A probability as a percentage. */
export function percent(p: number): string {
  return `${(100 * p).toFixed(1)}%`;
}

/** Resolves after the browser has painted the next frame. */
export function nextPaint(): Promise<void> {
  return new Promise((ok) => requestAnimationFrame(() => setTimeout(ok, 0)));
}
