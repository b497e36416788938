import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { TASK_ERROR_CODES } from '../../protocol/src/index.ts'
import { delegateEnv } from '../../delegate/src/config.ts'
import { API_ERROR_CODES } from '../src/api-error-codes.ts'
import { managerEnv } from '../src/config.ts'

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')

/** The first column of the markdown table under `heading`. */
function firstColumn(heading: string): string[] {
  const section = readme.split(`\n## ${heading}\n`)[1]?.split('\n## ')[0] ?? ''
  return section
    .split('\n')
    .filter((l) => l.startsWith('| `'))
    .flatMap((l) => [...l.split('|')[1]!.matchAll(/`([^`]+)`/g)].map((m) => m[1]!))
}

describe('README', () => {
  it('lists exactly the error codes the code produces', () => {
    expect(firstColumn('Error codes').sort()).toEqual([...TASK_ERROR_CODES].sort())
  })

  it("lists exactly the API's own error codes", () => {
    expect(firstColumn('API error codes').sort()).toEqual([...API_ERROR_CODES].sort())
  })

  it('documents every environment variable both processes read', () => {
    const documented = new Set(firstColumn('Configuration'))
    for (const name of [...managerEnv, ...delegateEnv]) expect(documented, name).toContain(name)
  })
})
