import { describe, expect, it } from 'vitest'
import { nextLink, parseLinkHeader } from '../src/registry/link-header.ts'

describe('parseLinkHeader (RFC 8288)', () => {
  it.each([
    ['</v2/_catalog?last=b&n=2>; rel="next"', [{ target: '/v2/_catalog?last=b&n=2', rel: ['next'], params: { rel: 'next' } }]],
    ['<https://r/x?a=1,2>; rel=next', [{ target: 'https://r/x?a=1,2', rel: ['next'], params: { rel: 'next' } }]],
    [
      '<https://r/p1>; rel="prev", <https://r/p3>; rel="next last"; title="a, b"',
      [
        { target: 'https://r/p1', rel: ['prev'], params: { rel: 'prev' } },
        { target: 'https://r/p3', rel: ['next', 'last'], params: { rel: 'next last', title: 'a, b' } },
      ],
    ],
    ['< /spaced >;REL="Next";rel="prev"', [{ target: '/spaced', rel: ['next'], params: { rel: 'Next' } }]],
    ['<a>', [{ target: 'a', rel: [], params: {} }]],
    ['', []],
    ['garbage', []],
  ])('%s', (header, expected) => {
    expect(parseLinkHeader(header)).toEqual(expected)
  })

  it('finds next across several headers and resolves it against the page', () => {
    const page = new URL('http://127.0.0.1:5000/v2/a/tags/list?n=100')
    expect(nextLink(['<http://x/1>; rel="prev"', '</v2/a/tags/list?last=z&n=100>; rel="next"'], page)?.href).toBe(
      'http://127.0.0.1:5000/v2/a/tags/list?last=z&n=100',
    )
    expect(nextLink('<?last=q>; rel=next', page)?.href).toBe('http://127.0.0.1:5000/v2/a/tags/list?last=q')
    expect(nextLink('<http://other:1/x>; rel=next', page)?.origin).toBe('http://other:1')
    expect(nextLink(undefined, page)).toBeUndefined()
    expect(nextLink('<http://r/p1>; rel="prev"', page)).toBeUndefined()
  })

  it('calls a next target that is no URL a protocol error', () => {
    expect(() => nextLink('<http://[bad>; rel=next', new URL('http://127.0.0.1/'))).toThrow(expect.objectContaining({ code: 'PROTOCOL_ERROR' }))
  })
})
