import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import t from 'tap';
import { PROJECT_ROOT } from '../src/paths.js';

const SRC = join(PROJECT_ROOT, 'src');

/** The folder (under src/) a source file belongs to, or `(root)` for the files directly in src/. */
function folderOf(file: string): string {
  const rel = relative(SRC, file).split('/');
  return rel.length > 1 ? rel[0] : '(root)';
}

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return tsFiles(p);
    return p.endsWith('.ts') ? [p] : [];
  });
}

/** Folder → the other folders its files import (static, re-exports and dynamic import()). */
function importGraph(): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>();
  for (const file of tsFiles(SRC)) {
    const from = folderOf(file);
    const text = readFileSync(file, 'utf8');
    const specs = [
      // import … from '…', export … from '…', import '…' and import('…')
      ...text.matchAll(
        /(?:^(?:import|export)[^;']*?from\s*'(\.[^']+)'|^import\s*'(\.[^']+)'|import\('(\.[^']+)'\))/gms,
      ),
    ];
    for (const m of specs) {
      const to = folderOf(normalize(join(dirname(file), m[1] ?? m[2] ?? m[3])));
      if (to === from) continue;
      if (!graph.has(from)) graph.set(from, new Set());
      graph.get(from)!.add(to);
    }
  }
  return graph;
}

/** The "may import" column of docs/architecture.md's folder table. */
function documentedGraph(): Map<string, Set<string>> {
  const doc = readFileSync(join(PROJECT_ROOT, 'docs', 'architecture.md'), 'utf8');
  const graph = new Map<string, Set<string>>();
  for (const m of doc.matchAll(/^\| `([a-z]+)\/` \|[^|]*\|([^|]*)\|$/gm)) {
    const deps = m[2]
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    graph.set(m[1], new Set(deps));
  }
  const root = /`\(root\)` itself imports `([a-z]+)\/`/.exec(doc);
  if (root) graph.set('(root)', new Set([root[1]]));
  return graph;
}

t.test(
  "docs/architecture.md's folder table is the import graph: no import against it, no arrow missing",
  async (t) => {
    const actual = importGraph();
    const documented = documentedGraph();
    const folders = readdirSync(SRC).filter((n) => statSync(join(SRC, n)).isDirectory());
    t.same(
      [...documented.keys()].filter((k) => k !== '(root)').sort(),
      folders.sort(),
      'every folder of src/ is in the table',
    );
    for (const [from, tos] of actual) {
      for (const to of tos) t.ok(documented.get(from)?.has(to), `${from} → ${to} is documented`);
    }
    for (const [from, tos] of documented) {
      for (const to of tos) t.ok(actual.get(from)?.has(to), `${from} → ${to} exists`);
    }
  },
);
