/**
 * Reading a whole list (catalog or tags) page by page.
 *
 * The first page asks for `n=1000`; a registry that refuses that page size (ECR 405, Quay 413,
 * distribution 400 PAGINATION_NUMBER_INVALID) is asked again with 100, then with no `n`. Then
 * every `Link: <…>; rel="next"` is followed, as given (the URL is the registry's cursor), but only
 * on the registry's origin: a link elsewhere is a protocol error and that host receives nothing.
 * Guards (a next URL seen before, caps on pages, entries, bytes and time) end the walk with what
 * was read and `truncated: true`; nothing stops at an arbitrary count.
 */
import type { Logger } from 'pino'
import { isRepositoryName, isTag } from '../../../common/src/reference-grammar.ts'
import { classifyFailure, parseJson, type Endpoint } from './classify.ts'
import { RegistryError, firstRegistryCode } from './errors.ts'
import { BodyTooLargeError } from './http.ts'
import { nextLink } from './link-header.ts'
import { redactUrl } from './redact.ts'
import type { RegistrySession } from './session.ts'

export interface ListLimits {
  maxPages: number
  maxEntries: number
  /** All bodies together, after decompression. */
  maxBytes: number
  /** Wall time for the walk; it also stops a second before the task's deadline. */
  maxMs: number
}

export const DEFAULT_LIMITS: ListLimits = {
  maxPages: 100_000,
  maxEntries: 2_000_000,
  // ~20 bytes a tag: room for millions, while a delegate's memory stays bounded
  maxBytes: 128 * 1024 * 1024,
  maxMs: 10 * 60_000,
}

export const PAGE_SIZES: readonly (number | undefined)[] = [1000, 100, undefined]

export interface ListResult {
  entries: string[]
  truncated: boolean
  pages: number
  /** entries that do not fit the distribution grammar (or are not strings), left out */
  skipped: number
}

export interface ListRequest {
  session: RegistrySession
  log: Logger
  origin: string
  /** e.g. `/v2/_catalog`, `/v2/library/nginx/tags/list` */
  path: string
  key: 'repositories' | 'tags'
  scope: string
  endpoint: Endpoint
  limits: ListLimits
  deadline?: number | undefined
  /**
   * Called before a first-page failure is thrown when nothing proved a registry answers (no
   * `Docker-Distribution-Api-Version` header): it may throw a better error (NOT_A_REGISTRY).
   */
  unproven?: () => Promise<void>
}

/** Code-point order (not UTF-16 code-unit order, which `sort()` uses). */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i)
    let y = b.charCodeAt(i)
    if (x === y) continue
    // Surrogates (astral code points) sort after U+E000–U+FFFF.
    if (x >= 0xd800 && y >= 0xd800) {
      x = x >= 0xe000 ? x - 0x800 : x + 0x2000
      y = y >= 0xe000 ? y - 0x800 : y + 0x2000
    }
    return x - y
  }
  return a.length - b.length
}

// eslint-disable-next-line no-control-regex -- the whole ASCII range, controls included, is the point
const ASCII = /^[\x00-\x7f]*$/

export function sortedUnique(entries: Iterable<string>): string[] {
  const list = [...new Set(entries)]
  // For ASCII (every name and tag the grammar lets through) code-unit order is code-point
  // order, and the built-in sort is several times faster than a comparator on a million tags.
  return list.every((e) => ASCII.test(e)) ? list.sort() : list.sort(compareCodePoints)
}

/** A page size the registry will not serve (the walk, and the profile, then ask for fewer). */
export function isPageSizeRefusal(status: number, body: Buffer): boolean {
  if (status === 405 || status === 413 || status === 416) return true
  if (status !== 400) return false
  const code = firstRegistryCode(parseJson(body))
  return code === undefined || code === 'PAGINATION_NUMBER_INVALID' || code === 'SIZE_INVALID' || code === 'UNSUPPORTED'
}

export async function listAll(req: ListRequest): Promise<ListResult> {
  const { session, limits, log } = req
  const started = Date.now()
  const stopAt = Math.min(started + limits.maxMs, req.deadline !== undefined ? req.deadline - 1000 : Infinity)
  const seen = new Set<string>()
  const entries = new Set<string>()
  const fits = req.key === 'tags' ? isTag : isRepositoryName
  let skipped = 0
  let bytes = 0
  let pages = 0
  const stop = (reason: string): ListResult => {
    log.warn({ reason, pages, entries: entries.size }, 'registry listing truncated')
    return { entries: sortedUnique(entries), truncated: true, pages, skipped }
  }

  let url: URL | undefined
  let sizeIndex = 0
  for (;;) {
    if (url === undefined) {
      url = new URL(req.path, req.origin)
      const n = PAGE_SIZES[sizeIndex]
      if (n !== undefined) url.searchParams.set('n', String(n))
    }
    if (seen.has(url.href)) return stop('a next link pointed at a page read before')
    if (pages >= limits.maxPages) return stop('page cap')
    if (pages > 0 && Date.now() >= stopAt) return stop('time cap')
    seen.add(url.href)

    let res
    try {
      res = await session.get(url, req.scope, Math.max(1, limits.maxBytes - bytes), { page: pages + 1 })
    } catch (err) {
      if (err instanceof BodyTooLargeError) return stop('byte cap')
      throw err
    }
    if (res.status !== 200) {
      if (pages === 0 && sizeIndex < PAGE_SIZES.length - 1 && isPageSizeRefusal(res.status, res.body)) {
        log.debug({ status: res.status, n: PAGE_SIZES[sizeIndex] }, 'registry refused the page size, asking for fewer')
        sizeIndex++
        seen.clear()
        url = undefined
        continue
      }
      if (pages === 0 && res.headers['docker-distribution-api-version'] === undefined) await req.unproven?.()
      throw classifyFailure(res, req.endpoint)
    }
    pages++
    bytes += res.body.length
    const body = parseJson(res.body)
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      if (pages === 1) await req.unproven?.()
      throw new RegistryError('PROTOCOL_ERROR', `${url.host} answered a ${req.key === 'tags' ? 'tag list' : 'catalog'} page that is not a JSON object: check that the URL points at a registry.`, {
        status: res.status,
        url: redactUrl(url),
      })
    }
    const list = (body as Record<string, unknown>)[req.key]
    if (list !== null && list !== undefined && !Array.isArray(list)) {
      throw new RegistryError('PROTOCOL_ERROR', `${url.host} answered a page whose "${req.key}" is not a list: report this to the registry operator.`, {
        status: res.status,
        url: redactUrl(url),
      })
    }
    for (const e of list ?? []) {
      if (typeof e === 'string' && fits(e)) entries.add(e)
      else skipped++
    }
    if (entries.size >= limits.maxEntries) return stop('entry cap')
    if (bytes >= limits.maxBytes) return stop('byte cap')

    const next = nextLink(res.headers.link, url)
    if (!next) break
    if (next.origin !== req.origin) {
      throw new RegistryError('PROTOCOL_ERROR', `${url.host} sent a next-page link to another host (${next.host}), which is not followed: report this to the registry operator.`, {
        status: res.status,
        url: redactUrl(url),
      })
    }
    url = next
  }
  if (skipped > 0) log.warn({ skipped }, 'registry listed entries outside the distribution grammar; left out')
  return { entries: sortedUnique(entries), truncated: false, pages, skipped }
}
