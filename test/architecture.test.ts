/** The package boundaries and the absence of import cycles hold, and lint enforces them. */
import { ESLint } from 'eslint'
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { findCycles, importGraph } from '../scripts/import-graph.ts'
import { root } from './harness.ts'

describe('the import graph', () => {
  it('has no cycle between files, and manager and delegate never import each other', () => {
    const g = importGraph()
    expect(g.cycles).toEqual([])
    const edges = [...g.packages.keys()]
    expect(edges).not.toContain('manager → delegate')
    expect(edges).not.toContain('delegate → manager')
    for (const bottom of ['protocol', 'common']) expect(edges.filter((e) => e.startsWith(`${bottom} →`))).toEqual([])
  })

  it('finds a cycle when there is one, type imports included', () => {
    const graph = new Map([
      ['a.ts', new Set(['b.ts'])],
      ['b.ts', new Set(['c.ts'])],
      ['c.ts', new Set(['a.ts'])],
      ['d.ts', new Set(['a.ts'])],
    ])
    expect(findCycles(graph)).toEqual([['a.ts', 'b.ts', 'c.ts']])
  })
})

describe('lint', () => {
  const eslint = new ESLint({ cwd: root })
  const refusals = async (filePath: string, line: string) => {
    const [result] = await eslint.lintText(`${line}\n${readFileSync(filePath, 'utf8')}`, { filePath })
    return result!.messages.filter((m) => m.ruleId === '@typescript-eslint/no-restricted-imports').map((m) => m.message)
  }

  it('refuses an import from delegate/ in manager/ and the reverse', { timeout: 60_000 }, async () => {
    expect(await refusals(`${root}manager/src/registry-host.ts`, `import type { Delegate } from '../../delegate/src/delegate.ts'`)).toEqual([
      expect.stringMatching(/must not import delegate\//),
    ])
    expect(await refusals(`${root}delegate/src/backoff.ts`, `import type { Dispatcher } from '../../manager/src/dispatcher.ts'`)).toEqual([
      expect.stringMatching(/must not import manager\//),
    ])
    expect(await refusals(`${root}protocol/src/decode.ts`, `import { VERSION } from '../../common/src/version.ts'`)).toEqual([
      expect.stringMatching(/must not import common\//),
    ])
    expect(await refusals(`${root}manager/src/registry-host.ts`, `import { VERSION } from '../../common/src/version.ts'`)).toEqual([])
  })
})
