import { describe, expect, it } from 'vitest'
import { reasonsAgainst, selectDelegate, type Candidate, type SelectionInput } from '../src/select-delegate.ts'

const now = 1_000_000
function cand(name: string, over: Partial<Candidate> = {}, tags: string[] = []): Candidate {
  return {
    id: name,
    name,
    selectors: new Set([...tags, name]),
    capacity: 2,
    active: 0,
    lastHeartbeatAt: now,
    draining: false,
    lastAssignedAt: 0,
    local: true,
    full: false,
    refusedRev: -1,
    rev: 0,
    ...over,
  }
}
function input(candidates: Candidate[], over: Partial<SelectionInput> = {}): SelectionInput {
  return { selectors: [], candidates, now, heartbeatTimeoutMs: 10_000, unreachable: new Map(), historyDelegateId: null, ...over }
}

describe('selectDelegate', () => {
  it('only picks a delegate whose tags cover every selector', () => {
    const sel = selectDelegate(input([cand('a', {}, ['eu']), cand('b', {}, ['eu', 'gpu'])], { selectors: ['eu', 'gpu'] }))
    expect(sel.kind === 'picked' && sel.delegate.name).toBe('b')
    expect(sel.log.join('\n')).toMatch(/excluded for missing selectors: a/)
  })

  it("treats a delegate's name as one of its selectors", () => {
    const sel = selectDelegate(input([cand('a'), cand('b')], { selectors: ['b'] }))
    expect(sel.kind === 'picked' && sel.delegate.name).toBe('b')
  })

  it('prefers the history delegate when it is eligible', () => {
    const sel = selectDelegate(input([cand('a'), cand('b')], { historyDelegateId: 'b' }))
    expect(sel).toMatchObject({ kind: 'picked', via: 'history', delegate: { name: 'b' } })
  })

  it('falls back to round robin when the history delegate is full', () => {
    const sel = selectDelegate(input([cand('a'), cand('b', { active: 2 })], { historyDelegateId: 'b' }))
    expect(sel).toMatchObject({ kind: 'picked', via: 'round-robin', delegate: { name: 'a' } })
    expect(sel.log.join('\n')).toMatch(/history delegate not eligible/)
  })

  it('round robin picks the delegate assigned least recently', () => {
    const sel = selectDelegate(input([cand('a', { lastAssignedAt: 5 }), cand('b', { lastAssignedAt: 3 }), cand('c', { lastAssignedAt: 9 })]))
    expect(sel.kind === 'picked' && sel.delegate.name).toBe('b')
  })

  const excluded: [string, Candidate, RegExp][] = [
    ['a full delegate', cand('x', { active: 2 }), /no free slot: x \(2\/2\)/],
    ['a silent delegate', cand('x', { lastHeartbeatAt: now - 20_000 }), /heartbeat older than/],
    ['a draining delegate', cand('x', { draining: true }), /draining: x/],
  ]
  it.each(excluded)('never picks %s, and says why', (_n, c, why) => {
    const sel = selectDelegate(input([c]))
    expect(sel.kind).toBe('wait')
    expect(sel.log.join('\n')).toMatch(why)
  })

  it('skips a delegate marked unable to reach the registry until the mark expires', () => {
    const unreachable = new Map([['a', { code: 'CONNECTION_REFUSED', message: 'm', until: now + 1 }]])
    expect(selectDelegate(input([cand('a'), cand('b')], { unreachable }))).toMatchObject({ kind: 'picked', delegate: { name: 'b' } })
    const expired = new Map([['a', { code: 'CONNECTION_REFUSED', message: 'm', until: now }]])
    expect(selectDelegate(input([cand('a')], { unreachable: expired }))).toMatchObject({ kind: 'picked', delegate: { name: 'a' } })
  })

  it('reports unreachable when every matching delegate is marked', () => {
    const unreachable = new Map([
      ['a', { code: 'CONNECTION_REFUSED', message: 'm', until: now + 1 }],
      ['b', { code: 'DNS_NOT_FOUND', message: 'm', until: now + 1 }],
    ])
    const sel = selectDelegate(input([cand('a'), cand('b'), cand('c', {}, [])], { unreachable, selectors: [] }))
    // c is eligible, so not every matching delegate failed
    expect(sel.kind).toBe('picked')
    const only = selectDelegate(input([cand('a'), cand('b')], { unreachable }))
    expect(only).toMatchObject({
      kind: 'unreachable',
      failures: [
        { delegate: 'a', code: 'CONNECTION_REFUSED' },
        { delegate: 'b', code: 'DNS_NOT_FOUND' },
      ],
    })
  })

  it('believes the owner of a remote delegate: full, or refused at its current rev, means no free slot', () => {
    expect(selectDelegate(input([cand('r', { local: false, full: true })])).kind).toBe('wait')
    expect(selectDelegate(input([cand('r', { local: false, refusedRev: 4, rev: 4 })])).kind).toBe('wait')
    // a newer state from the owner ends the refusal; a remote delegate's own heartbeat is not ours to judge
    const later = selectDelegate(input([cand('r', { local: false, refusedRev: 4, rev: 5, lastHeartbeatAt: 0 })]))
    expect(later).toMatchObject({ kind: 'picked', delegate: { name: 'r' } })
    expect(selectDelegate(input([cand('r', { local: false, full: true })])).log.join('\n')).toMatch(/no free slot: r \(full on its replica\)/)
  })

  it('waits, naming the selectors, when no connected delegate has them', () => {
    const sel = selectDelegate(input([cand('a', {}, ['us'])], { selectors: ['eu'] }))
    expect(sel).toMatchObject({ kind: 'wait', reason: 'no connected delegate has selectors [eu]' })
  })

  it('keeps the log short with thousands of candidates', () => {
    const many = Array.from({ length: 2_000 }, (_, i) => cand(`d${i}`, {}, ['us']))
    const sel = selectDelegate(input(many, { selectors: ['eu'] }))
    const text = sel.log.join('\n')
    expect(text).toMatch(/and 1992 more/)
    expect(text.length).toBeLessThan(1_000)
  })
})

describe('reasonsAgainst', () => {
  it('names every reason a connected delegate is not eligible, and none for an eligible one', () => {
    const base = input([])
    expect(reasonsAgainst(cand('ok', {}, ['eu']), { ...base, selectors: ['eu'] })).toEqual([])
    const unreachable = new Map([['x', { code: 'TLS_UNTRUSTED', message: 'm', until: now + 5_000 }]])
    const all = reasonsAgainst(cand('x', { lastHeartbeatAt: now - 20_000, draining: true, active: 2 }), { ...base, selectors: ['eu', 'gpu'], unreachable })
    expect(all).toEqual([
      { code: 'MISSING_SELECTORS', selectors: ['eu', 'gpu'] },
      { code: 'SILENT', lastHeartbeatAt: new Date(now - 20_000).toISOString() },
      { code: 'DRAINING' },
      { code: 'CANNOT_REACH', error: 'TLS_UNTRUSTED', message: 'm', until: new Date(now + 5_000).toISOString() },
      { code: 'NO_FREE_SLOT', active: 2, capacity: 2 },
    ])
    // a remote delegate: its owner vouches for liveness; its load is the owner's word
    expect(reasonsAgainst(cand('r', { local: false, lastHeartbeatAt: 0, full: true }), base)).toEqual([{ code: 'NO_FREE_SLOT', active: null, capacity: 2 }])
  })
})
