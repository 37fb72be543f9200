/**
 * The source's import graph (every relative import and re-export of src/, type-only ones
 * included, read with the TypeScript compiler's pre-processor) has no cycles, between files or
 * between the top-level folders of src/ (files directly in src/ count as folders of their own; the layering engine/data → models → similarity/explain →
 * training → concepts/serve/web → cli).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { packageRoot } from '../src/package-root.js';

const srcDir = join(packageRoot(), 'src');

/** Every .ts file under `dir`, as paths relative to src/ with `/` separators. */
function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts'))
    .map((e) => relative(srcDir, join(e.parentPath, e.name)).split('\\').join('/'))
    .sort();
}

/** file → the src files it imports (relative specifiers only; `.js` resolves to `.ts`). */
function importGraph(): Map<string, string[]> {
  const files = sourceFiles(srcDir);
  const known = new Set(files);
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const text = readFileSync(join(srcDir, file), 'utf8');
    const info = ts.preProcessFile(text, true, true);
    const targets = new Set<string>();
    for (const ref of info.importedFiles) {
      if (!ref.fileName.startsWith('.')) continue;
      const abs = resolve(srcDir, dirname(file), ref.fileName.replace(/\.js$/, '.ts'));
      const target = relative(srcDir, abs).split('\\').join('/');
      if (!known.has(target)) throw new Error(`src/${file}: import '${ref.fileName}' resolves to no source file`);
      targets.add(target);
    }
    graph.set(file, [...targets].sort());
  }
  return graph;
}

/** The strongly connected components with more than one node (Tarjan), each sorted. */
function cycles(graph: Map<string, readonly string[]>): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1) out.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return out;
}

/** The top-level folder of a src file; a file directly in src/ stands for itself. */
function folder(file: string): string {
  return file.includes('/') ? file.slice(0, file.indexOf('/')) : file;
}

/** The folder graph: an edge a → b when a file in folder a imports one in folder b. */
function folderGraph(graph: Map<string, readonly string[]>): Map<string, string[]> {
  const edges = new Map<string, Set<string>>();
  for (const [from, targets] of graph) {
    const set = edges.get(folder(from)) ?? new Set<string>();
    edges.set(folder(from), set);
    for (const t of targets) if (folder(t) !== folder(from)) set.add(folder(t));
  }
  return new Map([...edges].map(([k, v]) => [k, [...v].sort()]));
}

/** For a folder cycle, the imports that make it (file → file), to name in the failure. */
function crossings(graph: Map<string, readonly string[]>, folders: readonly string[]): string[] {
  const inCycle = new Set(folders);
  const out: string[] = [];
  for (const [from, targets] of graph) {
    for (const t of targets) {
      if (folder(t) !== folder(from) && inCycle.has(folder(from)) && inCycle.has(folder(t))) out.push(`${from} → ${t}`);
    }
  }
  return out;
}

test('the cycle finder finds a file cycle and a folder cycle in a made-up graph', () => {
  const g = new Map<string, string[]>([
    ['a/x.ts', ['a/y.ts']],
    ['a/y.ts', ['b/z.ts', 'a/x.ts']],
    ['b/z.ts', ['c/w.ts']],
    ['c/w.ts', ['a/x.ts']],
    ['d/v.ts', ['a/x.ts']],
  ]);
  assert.deepEqual(cycles(g), [['a/x.ts', 'a/y.ts', 'b/z.ts', 'c/w.ts']]);
  assert.deepEqual(cycles(folderGraph(g)), [['a', 'b', 'c']]);
  assert.deepEqual(
    cycles(
      new Map([
        ['a.ts', ['b.ts']],
        ['b.ts', []],
      ]),
    ),
    [],
  );
});

test('src/ has no import cycles between files', () => {
  const graph = importGraph();
  assert.ok(graph.size > 100, `only ${graph.size} source files found under ${srcDir}`);
  assert.deepEqual(
    cycles(graph).map((c) => c.join(' ↔ ')),
    [],
  );
});

test('src/ has no import cycles between its folders', () => {
  const graph = importGraph();
  const found = cycles(folderGraph(graph)).map((c) => `${c.join(' ↔ ')}: ${crossings(graph, c).join(', ')}`);
  assert.deepEqual(found, []);
});
