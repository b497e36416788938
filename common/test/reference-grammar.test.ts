import { describe, expect, it } from 'vitest'
import { isRepositoryName, isTag } from '../src/reference-grammar.ts'

describe('distribution reference grammar', () => {
  it.each([
    ['library/nginx', true],
    ['a', true],
    ['team/sub-part.v2/x__y', true],
    ['a---b', true],
    ['Team/app', false],
    ['team//app', false],
    ['/team', false],
    ['team/', false],
    ['a..b', false],
    ['a_-b', false],
    ['host:5000/app', false],
    ['a\u001b[2J', false],
    ['ap\u0070', true],
    [`${'a'.repeat(255)}`, true],
    [`${'a'.repeat(256)}`, false],
  ])('name %j: %s', (name, ok) => expect(isRepositoryName(name)).toBe(ok))

  it.each([
    ['latest', true],
    ['1.0', true],
    ['_x', true],
    ['A_b-c.9', true],
    ['x'.repeat(128), true],
    ['x'.repeat(129), false],
    ['-x', false],
    ['.x', false],
    ['', false],
    ['a b', false],
    ['é', false],
    ['a\n', false],
    ['\u202eevil', false],
  ])('tag %j: %s', (tag, ok) => expect(isTag(tag)).toBe(ok))
})
