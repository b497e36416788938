import { describe, expect, it } from 'vitest'
import { ANY_CONTROL } from '../../test/controls.ts'
import { printable, printableInLine, printableJson } from '../printable.ts'
import { table } from '../table.ts'

// every character a terminal may act on: C0 but \t \n, DEL, C1, bidi
const CONTROLS = [...Array(0x20).keys(), 0x7f, ...Array.from({ length: 0x20 }, (_, i) => 0x80 + i), 0x061c, 0x200e, 0x200f, 0x2028, 0x2029, 0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2066, 0x2067, 0x2068, 0x2069]
  .filter((n) => n !== 0x09 && n !== 0x0a)
  .map((n) => String.fromCharCode(n))

describe('printable', () => {
  it('shows every control character as an escape, keeping lines and tabs', () => {
    const text = `a\tb\nc${CONTROLS.join('')}d`
    const out = printable(text)
    expect(out).not.toMatch(ANY_CONTROL)
    expect(out.startsWith('a\tb\nc\\x00\\x01')).toBe(true)
    expect(out).toContain('\\x1b')
    expect(out).toContain('\\x9b')
    expect(out).toContain('\\u202e')
    expect(printable('café 漢字 😀')).toBe('café 漢字 😀')
  })

  it('keeps a value on its line', () => {
    expect(printableInLine('a\nb\tc\u001b[2J')).toBe('a\\x0ab\\x09c\\x1b[2J')
    expect(table(['name'], [['evil\n\u001b]0;title\u0007']])).toBe('NAME\nevil\\x0a\\x1b]0;title\\x07')
  })

  it('prints JSON that still parses to the same value, without raw C1 or bidi controls', () => {
    const value = { tag: `x${CONTROLS.join('')}y`, n: 1 }
    const out = printableJson(value)
    expect(out).not.toMatch(ANY_CONTROL)
    expect(JSON.parse(out)).toEqual(value)
  })
})
