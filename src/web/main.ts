/**
 * The explorer page: loads the model from its server, runs it in the browser and wires the
 * image, the panels and the pointer tools. Nothing is uploaded: images are decoded, run and
 * explained here. `window.salfExplorer` exposes readiness, timings and a bare-inference timer
 * for the end-to-end tests and the browser benchmark.
 */
import { allContributions, rankClasses, type ClassExplanation } from '../explain/contributions.js';
import { colormapAt } from '../explain/heatmap.js';
import type { RasterRegion, Region } from '../explain/raster.js';
import { decisionRule } from '../explain/rules.js';
import { sankeySvg } from '../explain/sankey.js';
import type { BrushMask } from './core/brush.js';
import { ImageExplorer, type HeatmapValues } from './core/explorer.js';
import { explorerModel, type ExplorerManifest, type ExplorerModel, type ImageList } from './core/manifest.js';
import { prepareInput, type PreparedInput } from './core/preprocess.js';
import { decodeImage, type DecodedImage } from './decode.js';
import { byId, el, nextPaint, percent } from './dom.js';
import { renderClasses, renderContributions, renderEdits, renderRegion, type ConceptRowEvents, type RegionRanking } from './panels.js';
import { BrowserModel, type Backend } from './runtime.js';
import { Stage, type InkRegion, type Tool } from './stage.js';

/** Contributions listed per class, and terms drawn in the Sankey diagram. */
const TOP_CONTRIBUTIONS = 8;
const TOP_REGION = 8;
const SANKEY_TERMS = 20;

/** Milliseconds of each step of the last image load and the last intervention. */
export interface Timings {
  load?: { decode: number; preprocess: number; inference: number; explain: number; total: number };
  intervention?: { compute: number; total: number };
}

/** What the page exposes to tests and benchmarks. */
export interface ExplorerHandle {
  /** Resolves once the model is loaded (rejects when it cannot be). */
  ready: Promise<void>;
  backend?: Backend;
  timings: Timings;
  /** Resolves once the last image load or intervention has been shown. */
  idle(): Promise<void>;
  /** Runs the bare model on the current image `reps` times; the time of each, in ms. */
  benchInference(reps: number): Promise<number[]>;
  /** The current region and interventions, with their input masks as lists of pixel indices. */
  snapshot(): ExplorerSnapshot | undefined;
}

/** What {@link ExplorerHandle.snapshot} returns. */
export interface ExplorerSnapshot {
  image: string;
  /** The model input's side S (masks index S×S row-major). */
  size: number;
  region?: { label: string; pixels: number[] };
  edits: { concept: number; beta: number; label: string; pixels: number[] }[];
}

declare global {
  interface Window {
    salfExplorer: ExplorerHandle;
  }
}

interface Current {
  image: DecodedImage;
  prepared: PreparedInput;
  explorer: ImageExplorer;
  region?: { raster: RasterRegion; ink: InkRegion };
}

class App {
  private current: Current | undefined;
  /** The class explained; undefined follows the prediction. */
  private chosen: number | undefined;
  private hovered: number | undefined;
  private pinned: number | undefined;
  private sankeyClass = -1;
  private busy: Promise<void> = Promise.resolve();
  readonly timings: Timings = {};
  private readonly stage: Stage;

  constructor(
    private readonly model: ExplorerModel,
    private readonly runtime: BrowserModel,
  ) {
    this.stage = new Stage(byId('stage'), {
      hover: (x, y) => this.pointerValue(x, y),
      point: (x, y) => this.explainRegion({ kind: 'point', x, y }),
      box: (x0, y0, x1, y1) => this.explainRegion({ kind: 'box', x0, y0, x1, y1 }),
      brush: (mask, tool) => {
        if (tool === 'brush') this.explainBrush(mask);
        else void this.intervene(mask); // the queue reports its errors on the page
      },
    });
    this.wire();
  }

  /** Serialises loads and interventions so timings and panels never interleave. */
  private queue(task: () => Promise<void>): Promise<void> {
    this.busy = this.busy.then(task).catch((err: unknown) => showError(err));
    return this.busy;
  }

  idle(): Promise<void> {
    return this.busy;
  }

  private wire(): void {
    const { model } = this;
    const file = byId<HTMLInputElement>('file');
    file.addEventListener('change', () => {
      const f = file.files?.[0];
      if (f) void this.load(f, f.name);
      file.value = '';
    });
    const drop = byId('drop');
    drop.addEventListener('dragover', (e) => {
      e.preventDefault();
      drop.classList.add('over');
    });
    drop.addEventListener('dragleave', () => drop.classList.remove('over'));
    drop.addEventListener('drop', (e) => {
      e.preventDefault();
      drop.classList.remove('over');
      const f = e.dataTransfer?.files?.[0];
      if (f) void this.load(f, f.name);
    });
    const opacity = byId<HTMLInputElement>('opacity');
    const setOpacity = (): void => this.stage.setOpacity(Number(opacity.value));
    opacity.addEventListener('input', setOpacity);
    setOpacity();
    const brush = byId<HTMLInputElement>('brush-size');
    const setBrush = (): void => {
      this.stage.brushRadius = Number(brush.value);
    };
    brush.addEventListener('input', setBrush);
    setBrush();
    for (const radio of Array.from(document.querySelectorAll<HTMLInputElement>('input[name="tool"]'))) {
      radio.addEventListener('change', () => {
        if (radio.checked) this.stage.tool = radio.value as Tool;
        byId('stage').dataset.tool = this.stage.tool;
      });
    }
    const select = byId<HTMLSelectElement>('class-select');
    select.replaceChildren(...model.classes.map((c, i) => el('option', { text: c, attrs: { value: String(i) } })));
    select.addEventListener('change', () => this.choose(Number(select.value)));
    byId('follow-prediction').addEventListener('click', () => this.choose(undefined));
    const beta = byId<HTMLInputElement>('edit-beta');
    const setBeta = (): void => {
      this.stage.strokeSign = Number(beta.value) < 0 ? -1 : 1;
    };
    beta.addEventListener('input', setBeta);
    setBeta();
    const grey = byId<HTMLInputElement>('grey');
    const setGrey = (): void => {
      byId('stage').classList.toggle('grey', grey.checked);
    };
    grey.addEventListener('change', setGrey);
    setGrey();
    const concept = byId<HTMLSelectElement>('edit-concept');
    concept.replaceChildren(...model.concepts.map((c, i) => el('option', { text: c, attrs: { value: String(i) } })));
    byId('edit-all').addEventListener('click', () => void this.intervene(undefined));
    byId('undo').addEventListener('click', () => this.undo());
    byId('reset').addEventListener('click', () => this.reset());
    byId('region-rank').addEventListener('change', () => this.render());
    document.addEventListener('keydown', (e) => {
      if ((e.ctrlKey || e.metaKey) && e.key === 'z' && !(e.target instanceof HTMLInputElement)) {
        e.preventDefault();
        this.undo();
      }
    });
  }

  /** Decodes, runs and explains an image. */
  load(blob: Blob, name: string): Promise<void> {
    return this.queue(async () => {
      setStatus(`Running ${name}…`);
      showError(undefined);
      const t0 = performance.now();
      const image = await decodeImage(blob, name);
      const t1 = performance.now();
      const prepared = prepareInput(this.model, image.rgb);
      const t2 = performance.now();
      const outputs = await this.runtime.run(prepared.pixels);
      const t3 = performance.now();
      this.current?.image.bitmap.close();
      this.current = { image, prepared, explorer: new ImageExplorer(this.model, outputs, prepared.geometry) };
      this.pinned = undefined;
      this.hovered = undefined;
      byId('drop').classList.add('has-image');
      this.stage.setImage(image, prepared.geometry);
      this.render();
      await nextPaint();
      const t4 = performance.now();
      this.timings.load = { decode: t1 - t0, preprocess: t2 - t1, inference: t3 - t2, explain: t4 - t3, total: t4 - t0 };
      setStatus(`${name}: ${image.rgb.width}×${image.rgb.height}, shown in ${(t4 - t0).toFixed(0)} ms (model ${(t3 - t2).toFixed(0)} ms)`);
    });
  }

  private choose(cls: number | undefined): void {
    this.chosen = cls;
    this.pinned = undefined;
    this.render();
  }

  private conceptEvents(): ConceptRowEvents {
    return {
      hover: (m) => {
        this.hovered = m;
        this.renderHeatmap();
      },
      pin: (m) => {
        this.pinned = this.pinned === m ? undefined : m;
        this.render();
      },
    };
  }

  private explainRegion(region: Region): void {
    const cur = this.current;
    if (!cur) return;
    try {
      const raster = cur.explorer.raster(region);
      const ink: InkRegion =
        region.kind === 'point'
          ? { kind: 'point', x: region.x, y: region.y, radius: Math.max(1, Math.min(cur.image.rgb.width, cur.image.rgb.height) / 16) }
          : region.kind === 'box'
            ? { kind: 'box', x0: region.x0, y0: region.y0, x1: region.x1, y1: region.y1 }
            : { kind: 'mask', mask: raster.mask };
      cur.region = { raster, ink };
      showError(undefined);
    } catch (err) {
      cur.region = undefined;
      showError(err);
    }
    this.render();
  }

  private explainBrush(mask: BrushMask): void {
    const S = mask.geometry.size;
    if (mask.area === 0) return showError(new Error('the stroke lies outside the part of the image the model sees'));
    this.explainRegionRaster({ kind: 'mask', mask: mask.mask, width: S, height: S, source: 'brush' });
  }

  private explainRegionRaster(region: Region & { kind: 'mask' }): void {
    const cur = this.current;
    if (!cur) return;
    try {
      const raster = cur.explorer.raster(region, 'input');
      cur.region = { raster, ink: { kind: 'mask', mask: raster.mask } };
      showError(undefined);
    } catch (err) {
      showError(err);
    }
    this.render();
  }

  /** Adds an intervention on a brushed mask (or the whole image) with the chosen concept and β. */
  private intervene(mask: BrushMask | undefined): Promise<void> {
    return this.queue(async () => {
      const cur = this.current;
      if (!cur) throw new Error('open an image first');
      const t0 = performance.now();
      const concept = Number(byId<HTMLSelectElement>('edit-concept').value);
      const beta = Number(byId<HTMLInputElement>('edit-beta').value);
      if (!Number.isFinite(beta)) throw new Error('β must be a number');
      const S = cur.prepared.geometry.size;
      if (mask && mask.area === 0) throw new Error('the stroke lies outside the part of the image the model sees');
      const region = mask
        ? cur.explorer.raster({ kind: 'mask', mask: mask.mask, width: S, height: S, source: 'brush' }, 'input')
        : cur.explorer.raster({ kind: 'all' }, 'input');
      cur.explorer.addEdit({ concept, beta, region });
      const t1 = performance.now();
      this.render();
      await nextPaint();
      const t2 = performance.now();
      this.timings.intervention = { compute: t1 - t0, total: t2 - t0 };
    });
  }

  private undo(): void {
    void this.queue(async () => {
      this.current?.explorer.undo();
      this.render();
    });
  }

  private reset(): void {
    void this.queue(async () => {
      this.current?.explorer.reset();
      this.render();
    });
  }

  /** The concept whose heatmap is shown: pinned, else hovered, else the class's top contribution. */
  private heatmapConcept(ex: ClassExplanation | undefined): number {
    return this.pinned ?? this.hovered ?? ex?.contributions[0]?.index ?? 0;
  }

  private explanation: ClassExplanation | undefined;
  private heat: HeatmapValues | undefined;

  private render(): void {
    const cur = this.current;
    if (!cur) return;
    const { explorer } = cur;
    const ranking = explorer.ranking();
    const cls = this.chosen ?? ranking[0]!.index;
    const ex = explorer.explain(cls, TOP_CONTRIBUTIONS);
    this.explanation = ex;
    const summary = explorer.intervention();
    const beforeRanking = summary ? rankClasses(this.model, explorer.original.logits) : undefined;
    renderClasses(byId('classes'), ranking, cls, (c) => this.choose(c), beforeRanking);
    byId<HTMLSelectElement>('class-select').value = String(cls);
    byId('follow-prediction').hidden = this.chosen === undefined;
    byId('explained-class').textContent = ex.class;
    const before = summary ? allContributions(this.model, explorer.original.standardised, cls) : undefined;
    renderContributions(byId('contributions'), byId('logit-line'), ex, this.pinned, this.conceptEvents(), before);
    // Explain Anything, on the current (possibly edited) maps.
    const rank = byId<HTMLSelectElement>('region-rank').value as RegionRanking;
    if (cur.region)
      renderRegion(
        byId('region-concepts'),
        byId('region-label'),
        explorer.explainRegion(cur.region.raster, TOP_REGION),
        rank,
        this.pinned,
        this.conceptEvents(),
      );
    else {
      byId('region-concepts').replaceChildren();
      byId('region-label').textContent = 'no region marked yet';
    }
    this.stage.showRegion(cur.region?.ink);
    // Interventions.
    const history = explorer.history;
    renderEdits(
      byId('edits'),
      history.map((e) => ({
        concept: this.model.concepts[e.concept]!,
        beta: e.beta,
        area: e.region.area,
        label: e.region.label.startsWith('mask:') ? 'a brushed region' : 'the whole image',
      })),
    );
    this.stage.showEdits(history.map((e) => ({ mask: e.region.mask, beta: e.beta })));
    byId<HTMLButtonElement>('undo').disabled = history.length === 0;
    byId<HTMLButtonElement>('reset').disabled = history.length === 0;
    const result = byId('intervention-result');
    if (summary) {
      result.textContent = `prediction: ${summary.before.class} (${percent(summary.before.probability)}) → ${summary.after.class} (${percent(summary.after.probability)})`;
      result.dataset.before = summary.before.class;
      result.dataset.after = summary.after.class;
    } else {
      result.textContent = '';
      delete result.dataset.before;
      delete result.dataset.after;
    }
    // Decision rule (depends only on the class).
    if (this.sankeyClass !== cls) {
      this.sankeyClass = cls;
      byId('rule-class').textContent = this.model.classes[cls]!;
      // The SVG is built by the library from escaped text only.
      byId('sankey').innerHTML = sankeySvg([decisionRule(this.model, cls, SANKEY_TERMS)]);
    }
    this.renderHeatmap();
  }

  private renderHeatmap(): void {
    const cur = this.current;
    if (!cur) return;
    const m = this.heatmapConcept(this.explanation);
    this.heat = cur.explorer.heatmap(m);
    this.stage.showHeatmap(this.heat);
    const legend = byId('legend');
    legend.hidden = false;
    byId('legend-name').textContent = `heatmap: ${this.model.concepts[m]}${this.pinned === m ? ' (pinned)' : ''}`;
    byId('legend-name').dataset.concept = String(m);
    byId('legend-lo').textContent = this.heat.range[0].toFixed(2);
    byId('legend-hi').textContent = this.heat.range[1].toFixed(2);
  }

  private pointerValue(x: number, y: number): void {
    const out = byId('pointer-value');
    const cur = this.current;
    const h = this.heat;
    if (!cur || !h || !Number.isFinite(x)) {
      out.textContent = '';
      return;
    }
    const g = cur.prepared.geometry;
    const u = Math.floor((x * g.resizedWidth) / g.width - g.left);
    const v = Math.floor((y * g.resizedHeight) / g.height - g.top);
    out.textContent = u >= 0 && v >= 0 && u < h.size && v < h.size ? `value here ${h.values[v * h.size + u]!.toFixed(3)}` : 'not seen by the model';
  }

  snapshot(): ExplorerSnapshot | undefined {
    const cur = this.current;
    if (!cur) return undefined;
    const pixels = (mask: Uint8Array): number[] => {
      const out: number[] = [];
      mask.forEach((v, i) => v && out.push(i));
      return out;
    };
    return {
      image: cur.image.name,
      size: cur.prepared.geometry.size,
      ...(cur.region ? { region: { label: cur.region.raster.label, pixels: pixels(cur.region.raster.mask) } } : {}),
      edits: cur.explorer.history.map((e) => ({ concept: e.concept, beta: e.beta, label: e.region.label, pixels: pixels(e.region.mask) })),
    };
  }

  /** Times the bare model on the current image's pixels. */
  async benchInference(reps: number): Promise<number[]> {
    const cur = this.current;
    if (!cur) throw new Error('open an image first');
    const times: number[] = [];
    for (let r = 0; r < reps; r++) {
      const t = performance.now();
      await this.runtime.run(cur.prepared.pixels);
      times.push(performance.now() - t);
    }
    return times;
  }
}

function setStatus(text: string): void {
  byId('status').textContent = text;
}

function showError(err: unknown): void {
  const box = byId('error');
  if (err === undefined) {
    box.hidden = true;
    box.textContent = '';
    return;
  }
  box.hidden = false;
  box.textContent = err instanceof Error ? err.message : String(err);
}

function drawLegendBar(): void {
  const c = byId<HTMLCanvasElement>('legend-bar');
  const ctx = c.getContext('2d')!;
  for (let i = 0; i < c.width; i++) {
    const [r, g, b] = colormapAt(i / (c.width - 1));
    ctx.fillStyle = `rgb(${r}, ${g}, ${b})`;
    ctx.fillRect(i, 0, 1, c.height);
  }
}

async function fetchOk(url: string): Promise<Response> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: the server answered ${res.status} ${(await res.text()).trim()}`);
  return res;
}

async function listFolder(app: App, manifest: ExplorerManifest): Promise<void> {
  if (!manifest.images) return;
  const list = (await (await fetchOk('/api/images')).json()) as ImageList;
  const select = byId<HTMLSelectElement>('folder');
  select.append(...list.images.map((i) => el('option', { text: i.path, attrs: { value: i.path } })));
  if (list.truncated) select.append(el('option', { text: '(list cut at the server’s limit)', attrs: { disabled: '' } }));
  select.hidden = false;
  select.addEventListener('change', () => {
    const path = select.value;
    if (!path) return;
    const url = `/images/${path.split('/').map(encodeURIComponent).join('/')}`;
    void fetchOk(url)
      .then((r) => r.blob())
      .then((b) => app.load(b, path))
      .catch((err: unknown) => showError(err));
  });
}

async function boot(handle: ExplorerHandle): Promise<void> {
  drawLegendBar();
  const manifest = (await (await fetchOk('/api/model')).json()) as ExplorerManifest;
  byId('model-name').textContent = `${manifest.name}: ${manifest.info.concepts.length} concepts, ${manifest.info.classes.length} classes`;
  setStatus(`Loading the model (${(manifest.model.bytes / 2 ** 20).toFixed(1)} MiB)…`);
  const [head, bytes] = await Promise.all([fetchOk(manifest.head.url).then((r) => r.arrayBuffer()), fetchOk(manifest.model.url).then((r) => r.arrayBuffer())]);
  const model = explorerModel(manifest, head);
  const prefer = new URLSearchParams(location.search).get('backend');
  const runtime = await BrowserModel.open(model, new Uint8Array(bytes), prefer === 'wasm' ? 'wasm' : undefined);
  handle.backend = runtime.backend;
  const badge = byId('backend');
  badge.hidden = false;
  badge.textContent = runtime.backend === 'webgpu' ? 'WebGPU' : 'WebAssembly';
  badge.dataset.backend = runtime.backend;
  if (runtime.fallbackReason) badge.title = runtime.fallbackReason;
  const app = new App(model, runtime);
  handle.idle = () => app.idle();
  handle.benchInference = (reps) => app.benchInference(reps);
  handle.snapshot = () => app.snapshot();
  handle.timings = app.timings;
  await listFolder(app, manifest);
  setStatus('Ready: open an image.');
}

const handle: ExplorerHandle = {
  ready: Promise.resolve(),
  timings: {},
  idle: () => Promise.resolve(),
  benchInference: () => Promise.reject(new Error('the model is not loaded yet')),
  snapshot: () => undefined,
};
handle.ready = boot(handle).catch((err: unknown) => {
  showError(err);
  setStatus('The model could not be loaded.');
  throw err;
});
window.salfExplorer = handle;
