/**
 * The image area: the picture, the heatmap overlay (its opacity a CSS property, so the slider
 * costs no redraw) and an ink layer for regions, interventions and the part of the image the
 * model does not see; and the pointer tools that mark regions on it.
 */
import { colourise } from '../explain/heatmap.js';
import type { InputGeometry } from '../explain/geometry.js';
import { BrushMask } from './core/brush.js';
import type { HeatmapValues } from './core/explorer.js';
import type { DecodedImage } from './decode.js';

/** What a pointer does on the image. */
export type Tool = 'inspect' | 'point' | 'box' | 'brush' | 'intervene';

/** What the stage reports; coordinates are in the image's pixels. */
export interface StageEvents {
  /** The pointer is over (x, y); NaN when it left the image. */
  hover(x: number, y: number): void;
  point(x: number, y: number): void;
  box(x0: number, y0: number, x1: number, y1: number): void;
  /** A brush stroke ended (tool `brush` or `intervene`). */
  brush(mask: BrushMask, tool: 'brush' | 'intervene'): void;
}

/** A region drawn on the ink layer. */
export type InkRegion =
  | { kind: 'point'; x: number; y: number; radius: number }
  | { kind: 'box'; x0: number; y0: number; x1: number; y1: number }
  | { kind: 'mask'; mask: Uint8Array };

/** Largest displayed side, in CSS pixels. */
const MAX_DISPLAY = 560;

export class Stage {
  tool: Tool = 'inspect';
  /** Brush radius in CSS pixels of the display. */
  brushRadius = 16;
  /** Sign of the β an intervention stroke will get (its colour). */
  strokeSign: 1 | -1 = 1;
  private image: DecodedImage | undefined;
  private geometry: InputGeometry | undefined;
  private scale = 1;
  private region: InkRegion | undefined;
  private edits: { mask: Uint8Array; beta: number }[] = [];
  private drag: { x0: number; y0: number; x: number; y: number } | undefined;
  private stroke: BrushMask | undefined;
  private readonly base: HTMLCanvasElement;
  private readonly heat: HTMLCanvasElement;
  private readonly ink: HTMLCanvasElement;

  constructor(
    private readonly root: HTMLElement,
    private readonly events: StageEvents,
  ) {
    const canvas = (cls: string): HTMLCanvasElement => {
      const c = document.createElement('canvas');
      c.className = cls;
      root.append(c);
      return c;
    };
    this.base = canvas('layer-image');
    this.heat = canvas('layer-heat');
    this.ink = canvas('layer-ink');
    this.ink.addEventListener('pointerdown', (e) => this.down(e));
    this.ink.addEventListener('pointermove', (e) => this.move(e));
    this.ink.addEventListener('pointerup', (e) => this.up(e));
    this.ink.addEventListener('pointercancel', () => this.cancel());
    this.ink.addEventListener('pointerleave', () => this.events.hover(NaN, NaN));
  }

  /** Shows a new image (clears the heatmap, region and edits). */
  setImage(image: DecodedImage, geometry: InputGeometry): void {
    this.image = image;
    this.geometry = geometry;
    this.region = undefined;
    this.edits = [];
    const { width: W, height: H } = image.bitmap;
    const avail = Math.min(MAX_DISPLAY, Math.max(240, this.root.parentElement?.clientWidth ?? MAX_DISPLAY));
    this.scale = Math.min(avail / W, MAX_DISPLAY / H);
    const dw = Math.max(1, Math.round(W * this.scale));
    const dh = Math.max(1, Math.round(H * this.scale));
    const dpr = window.devicePixelRatio || 1;
    this.root.style.width = `${dw}px`;
    this.root.style.height = `${dh}px`;
    for (const c of [this.base, this.heat, this.ink]) {
      c.width = Math.round(dw * dpr);
      c.height = Math.round(dh * dpr);
      c.style.width = `${dw}px`;
      c.style.height = `${dh}px`;
    }
    const ctx = this.base.getContext('2d')!;
    ctx.imageSmoothingQuality = 'high';
    ctx.drawImage(image.bitmap, 0, 0, this.base.width, this.base.height);
    this.showHeatmap(undefined);
    this.redrawInk();
  }

  /** The heatmap overlay's opacity, 0–1. */
  setOpacity(opacity: number): void {
    this.heat.style.opacity = String(Math.min(1, Math.max(0, opacity)));
  }

  /** Draws a concept's upsampled map over the part of the image the model sees (none: clears). */
  showHeatmap(h: HeatmapValues | undefined): void {
    const ctx = this.heat.getContext('2d')!;
    ctx.clearRect(0, 0, this.heat.width, this.heat.height);
    if (!h || !this.geometry) return;
    const S = h.size;
    const rgb = colourise(h.values, h.range[0], h.range[1]);
    const rgba = new ImageData(S, S);
    for (let p = 0; p < S * S; p++) {
      rgba.data[p * 4] = rgb[p * 3]!;
      rgba.data[p * 4 + 1] = rgb[p * 3 + 1]!;
      rgba.data[p * 4 + 2] = rgb[p * 3 + 2]!;
      rgba.data[p * 4 + 3] = 255;
    }
    this.drawInputLayer(ctx, rgba, true);
  }

  /** Shows the Explain Anything region (none: clears). */
  showRegion(region: InkRegion | undefined): void {
    this.region = region;
    this.redrawInk();
  }

  /** Shows the brushed masks of the interventions (green where β > 0, orange where β < 0). */
  showEdits(edits: { mask: Uint8Array; beta: number }[]): void {
    this.edits = edits;
    this.redrawInk();
  }

  /** The image point under a pointer event. */
  private imagePoint(e: PointerEvent): [number, number] {
    const r = this.ink.getBoundingClientRect();
    const W = this.image?.bitmap.width ?? 1;
    const H = this.image?.bitmap.height ?? 1;
    return [((e.clientX - r.left) / r.width) * W, ((e.clientY - r.top) / r.height) * H];
  }

  /** Brush radius in image pixels. */
  private brushImageRadius(): number {
    return this.brushRadius / this.scale;
  }

  private down(e: PointerEvent): void {
    if (!this.image || !this.geometry || e.button !== 0) return;
    const [x, y] = this.imagePoint(e);
    this.ink.setPointerCapture(e.pointerId);
    if (this.tool === 'point' || this.tool === 'box') this.drag = { x0: x, y0: y, x, y };
    else if (this.tool === 'brush' || this.tool === 'intervene') {
      this.stroke = new BrushMask(this.geometry);
      this.stroke.strokeTo(x, y, this.brushImageRadius());
      this.redrawInk();
    }
  }

  private move(e: PointerEvent): void {
    if (!this.image) return;
    const [x, y] = this.imagePoint(e);
    this.events.hover(x, y);
    if (this.drag) {
      this.drag.x = x;
      this.drag.y = y;
      if (this.tool === 'box') this.redrawInk();
    } else if (this.stroke) {
      this.stroke.strokeTo(x, y, this.brushImageRadius());
      this.redrawInk();
    }
  }

  private up(e: PointerEvent): void {
    if (!this.image) return;
    const [x, y] = this.imagePoint(e);
    if (this.drag) {
      const d = this.drag;
      this.drag = undefined;
      if (this.tool === 'point') this.events.point(x, y);
      else if (this.tool === 'box') {
        const [x0, x1] = [Math.min(d.x0, x), Math.max(d.x0, x)];
        const [y0, y1] = [Math.min(d.y0, y), Math.max(d.y0, y)];
        if (x1 - x0 >= 1 && y1 - y0 >= 1) this.events.box(x0, y0, x1, y1);
        else this.redrawInk();
      }
    } else if (this.stroke && (this.tool === 'brush' || this.tool === 'intervene')) {
      const s = this.stroke;
      s.strokeTo(x, y, this.brushImageRadius());
      s.lift();
      this.stroke = undefined;
      this.events.brush(s, this.tool);
    }
  }

  private cancel(): void {
    this.drag = undefined;
    this.stroke = undefined;
    this.redrawInk();
  }

  /**
   * Draws an S×S layer (model-input frame) where the input sits on the display; `smooth` picks
   * bilinear or nearest-neighbour scaling.
   */
  private drawInputLayer(ctx: CanvasRenderingContext2D, data: ImageData, smooth: boolean): void {
    const g = this.geometry!;
    const off = document.createElement('canvas');
    off.width = data.width;
    off.height = data.height;
    off.getContext('2d')!.putImageData(data, 0, 0);
    const [x0, y0, w, h] = this.inputRectOnCanvas();
    ctx.imageSmoothingEnabled = smooth;
    ctx.drawImage(off, 0, 0, g.size, g.size, x0, y0, w, h);
  }

  /** Where the model input lies on the canvas: x, y, width, height in canvas pixels. */
  private inputRectOnCanvas(): [number, number, number, number] {
    const g = this.geometry!;
    const sx = this.base.width / g.width;
    const sy = this.base.height / g.height;
    const kx = (g.width / g.resizedWidth) * sx;
    const ky = (g.height / g.resizedHeight) * sy;
    return [g.left * kx, g.top * ky, g.size * kx, g.size * ky];
  }

  /**
   * A mask as an S×S layer in `colour`: inside pixels at the colour's alpha, or (`outline`) a
   * light fill with the pixels on the mask's edge opaque.
   */
  private maskLayer(mask: Uint8Array, colour: [number, number, number, number], outline = false): ImageData {
    const S = this.geometry!.size;
    const d = new ImageData(S, S);
    const at = (u: number, v: number): number => (u < 0 || v < 0 || u >= S || v >= S ? 0 : mask[v * S + u]!);
    for (let v = 0; v < S; v++) {
      for (let u = 0; u < S; u++) {
        if (!mask[v * S + u]) continue;
        const edge = outline && (!at(u - 1, v) || !at(u + 1, v) || !at(u, v - 1) || !at(u, v + 1));
        d.data.set([colour[0], colour[1], colour[2], outline ? (edge ? 230 : 50) : colour[3]], (v * S + u) * 4);
      }
    }
    return d;
  }

  private redrawInk(): void {
    const ctx = this.ink.getContext('2d')!;
    const { width: cw, height: ch } = this.ink;
    ctx.clearRect(0, 0, cw, ch);
    if (!this.image || !this.geometry) return;
    // Dim what the preprocessing crops away.
    const [x0, y0, w, h] = this.inputRectOnCanvas();
    ctx.fillStyle = 'rgba(0, 0, 0, 0.55)';
    ctx.fillRect(0, 0, cw, y0);
    ctx.fillRect(0, y0 + h, cw, ch - y0 - h);
    ctx.fillRect(0, y0, x0, h);
    ctx.fillRect(x0 + w, y0, cw - x0 - w, h);
    // Brushed interventions (whole-image ones are only listed in the panel).
    const S = this.geometry.size;
    for (const e of this.edits) {
      if (e.mask.every((v) => v === 1) && e.mask.length === S * S) continue;
      this.drawInputLayer(ctx, this.maskLayer(e.mask, e.beta >= 0 ? [40, 200, 90, 255] : [240, 120, 30, 255], true), false);
    }
    const k = cw / this.image.bitmap.width;
    const kyy = ch / this.image.bitmap.height;
    const outline = (draw: () => void): void => {
      ctx.lineWidth = 4;
      ctx.strokeStyle = 'rgba(0, 0, 0, 0.8)';
      draw();
      ctx.stroke();
      ctx.lineWidth = 2;
      ctx.strokeStyle = '#ffffff';
      draw();
      ctx.stroke();
    };
    const r = this.region;
    if (r?.kind === 'box')
      outline(() => {
        ctx.beginPath();
        ctx.rect(r.x0 * k, r.y0 * kyy, (r.x1 - r.x0) * k, (r.y1 - r.y0) * kyy);
      });
    else if (r?.kind === 'point')
      outline(() => {
        ctx.beginPath();
        ctx.ellipse(r.x * k, r.y * kyy, r.radius * k, r.radius * kyy, 0, 0, 2 * Math.PI);
      });
    else if (r?.kind === 'mask') this.drawInputLayer(ctx, this.maskLayer(r.mask, [255, 255, 255, 110]), false);
    if (this.drag && this.tool === 'box') {
      const d = this.drag;
      outline(() => {
        ctx.beginPath();
        ctx.rect(Math.min(d.x0, d.x) * k, Math.min(d.y0, d.y) * kyy, Math.abs(d.x - d.x0) * k, Math.abs(d.y - d.y0) * kyy);
      });
    }
    if (this.stroke)
      this.drawInputLayer(
        ctx,
        this.maskLayer(this.stroke.mask, this.tool !== 'intervene' ? [255, 255, 255, 130] : this.strokeSign > 0 ? [40, 200, 90, 140] : [240, 120, 30, 140]),
        false,
      );
  }
}
