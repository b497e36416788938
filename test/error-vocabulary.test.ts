/**
 * One error vocabulary: every code the code names comes from the lists (task codes in
 * protocol/src/error-codes.ts, the API's and its clients' in manager/src/api-error-codes.ts),
 * the console and the CLI name no other, and every code a user can meet has a hint.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { describe, expect, it } from 'vitest'
import hints from '../manager/console/hints.json' with { type: 'json' }
import { API_ERROR_CODES, ApiErrorCode, CLIENT_ERROR_CODES } from '../manager/src/api-error-codes.ts'
import { TASK_ERROR_CODES } from '../protocol/src/index.ts'
import { root } from './harness.ts'

const ALL: ReadonlySet<string> = new Set([...TASK_ERROR_CODES, ...API_ERROR_CODES, ...CLIENT_ERROR_CODES])
/** The files that hold the lists; everything else names codes through them. */
const LISTS = ['protocol/src/error-codes.ts', 'manager/src/api-error-codes.ts']

function files(dir: string, ext: RegExp): string[] {
  return readdirSync(join(root, dir), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && ext.test(e.name) && !/\.test\.ts$/.test(e.name))
    .map((e) => relative(root, join(e.parentPath, e.name)))
}

describe('the error vocabulary', () => {
  it('production code writes no error code as a `code: \'…\'` literal outside the lists (it names them TaskErrorCode.X, ApiErrorCode.X)', () => {
    // other `code` vocabularies (why a delegate is not eligible: MISSING_SELECTORS, DRAINING…) are not error codes
    const offenders = ['manager/src', 'delegate/src', 'protocol/src', 'common/src', 'cli']
      .flatMap((dir) => files(dir, /\.ts$/))
      .filter((f) => !LISTS.includes(f))
      .flatMap((f) =>
        readFileSync(join(root, f), 'utf8')
          .split('\n')
          .flatMap((line, i) => [...line.matchAll(/code: '([A-Z0-9_]+)'/g)].filter((m) => ALL.has(m[1]!)).map(() => `${f}:${i + 1}: ${line.trim()}`)),
      )
    expect(offenders).toEqual([])
  })

  it('the lists do not overlap by accident: the API shares only INVALID_INPUT and INTERNAL with tasks', () => {
    expect(API_ERROR_CODES.filter((c) => (TASK_ERROR_CODES as readonly string[]).includes(c)).sort()).toEqual(['INTERNAL', 'INVALID_INPUT'])
    expect(CLIENT_ERROR_CODES.filter((c) => (TASK_ERROR_CODES as readonly string[]).includes(c) || (API_ERROR_CODES as readonly string[]).includes(c))).toEqual([])
    expect(Object.keys(ApiErrorCode).sort()).toEqual([...API_ERROR_CODES].sort())
  })

  it('hints.json names codes from the lists only, and every task and API code (and UNREACHABLE) has a hint', () => {
    const named = Object.keys(hints)
    expect(named.filter((c) => !ALL.has(c))).toEqual([])
    expect([...TASK_ERROR_CODES, ...API_ERROR_CODES, 'UNREACHABLE'].filter((c) => !(c in hints))).toEqual([])
  })

  it('the console names codes from the lists only', () => {
    // where the console's modules write a code: `code: 'X'`, `code ?? 'X'`, `new ApiError(status, 'X', …)`
    // (a lower-case fallback such as `code ?? 'unreachable'` is a label, not a code)
    const written = /code:\s*'([A-Z][A-Z0-9_]*)'|code \?\? '([A-Z][A-Z0-9_]*)'|new ApiError\([^,]+,\s*'([A-Z][A-Z0-9_]*)'/g
    const literals = files('manager/console', /\.js$/).flatMap((f) =>
      [...readFileSync(join(root, f), 'utf8').matchAll(written)].map((m) => ({ f, code: m[1] ?? m[2] ?? m[3]! })),
    )
    expect(literals.length).toBeGreaterThan(3)
    expect(literals.filter(({ code }) => !ALL.has(code))).toEqual([])
  })
})
