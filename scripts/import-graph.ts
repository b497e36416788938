/**
 * The import graph of the production code: which package imports which (README "Architecture"),
 * and every import cycle between files. `--check` exits 1 when there is a cycle; the package
 * boundaries themselves are lint rules (eslint.config.js).
 *
 *   node scripts/import-graph.ts           # print the package graph and the cycles
 *   node scripts/import-graph.ts --check   # the same, exit 1 on a cycle
 */
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
/** Production code only: tests, benchmarks and scripts may reach across packages. */
export const SOURCE_DIRS = ['common/src', 'protocol/src', 'manager/src', 'manager/console', 'delegate/src', 'cli']

const IMPORT = /(?:^|[;\s])(?:import|export)\s+(type\s+)?(?:[^'";]*?\sfrom\s+)?['"](\.{1,2}\/[^'"]+)['"]|import\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g

export interface ImportGraph {
  /** file → files it imports (paths relative to the repository) */
  files: Map<string, Set<string>>
  /** "from → to" between packages → how many file imports, and whether all are type-only */
  packages: Map<string, { count: number; typeOnly: boolean }>
  /** each cycle as a list of files */
  cycles: string[][]
}

function walk(dir: string): string[] {
  let out: string[] = []
  for (const e of readdirSync(join(root, dir), { withFileTypes: true })) {
    const rel = join(dir, e.name)
    if (e.isDirectory()) {
      if (e.name !== 'node_modules' && e.name !== 'test') out = out.concat(walk(rel))
    } else if (/\.(ts|js)$/.test(e.name) && !/\.test\.ts$/.test(e.name)) out.push(rel)
  }
  return out
}

export function packageOf(file: string): string {
  return file.split('/')[0]!
}

export function importGraph(): ImportGraph {
  const files = new Map<string, Set<string>>()
  const packages = new Map<string, { count: number; typeOnly: boolean }>()
  for (const file of SOURCE_DIRS.flatMap(walk)) {
    const deps = new Set<string>()
    files.set(file, deps)
    const text = readFileSync(join(root, file), 'utf8')
    for (const m of text.matchAll(IMPORT)) {
      const spec = m[2] ?? m[3]!
      const target = relative(root, resolve(root, dirname(file), spec))
      if (!/\.(ts|js)$/.test(target)) continue // JSON and other assets are not modules of ours
      deps.add(target)
      const [from, to] = [packageOf(file), packageOf(target)]
      if (from === to) continue
      const key = `${from} → ${to}`
      const edge = packages.get(key) ?? { count: 0, typeOnly: true }
      edge.count++
      edge.typeOnly &&= m[1] !== undefined
      packages.set(key, edge)
    }
  }
  return { files, packages, cycles: findCycles(files) }
}

/** Tarjan's strongly connected components: every component of more than one file is a cycle. */
export function findCycles(graph: Map<string, Set<string>>): string[][] {
  let next = 0
  const index = new Map<string, number>()
  const low = new Map<string, number>()
  const stack: string[] = []
  const onStack = new Set<string>()
  const found: string[][] = []
  const visit = (v: string) => {
    index.set(v, next)
    low.set(v, next)
    next++
    stack.push(v)
    onStack.add(v)
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue
      if (!index.has(w)) {
        visit(w)
        low.set(v, Math.min(low.get(v)!, low.get(w)!))
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!))
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = []
      let w: string
      do {
        w = stack.pop()!
        onStack.delete(w)
        component.push(w)
      } while (w !== v)
      if (component.length > 1 || graph.get(v)?.has(v)) found.push(component.sort())
    }
  }
  for (const v of graph.keys()) if (!index.has(v)) visit(v)
  return found
}

export function describe(g: ImportGraph): string {
  const lines = ['package imports (file imports across packages):']
  for (const [edge, { count, typeOnly }] of [...g.packages].sort()) {
    lines.push(`  ${edge.padEnd(22)} ${String(count).padStart(3)}${typeOnly ? '  (types only)' : ''}`)
  }
  lines.push(g.cycles.length === 0 ? 'import cycles between files: none' : `import cycles between files: ${g.cycles.length}`)
  for (const c of g.cycles) lines.push(`  ${c.join(' ⇄ ')}`)
  return lines.join('\n')
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const g = importGraph()
  process.stdout.write(`${describe(g)}\n`)
  if (process.argv.includes('--check') && g.cycles.length > 0) process.exitCode = 1
}
