/**
 * `Link` header parsing per RFC 8288 §3:
 *
 *   Link       = #link-value
 *   link-value = "<" URI-Reference ">" *( OWS ";" OWS link-param )
 *   link-param = token BWS [ "=" BWS ( token / quoted-string ) ]
 *
 * Several links may share one header and several headers may carry them; `rel` may list several
 * space-separated relation types. The target is kept opaque (registries put cursors in it).
 */
import { RegistryError } from './errors.ts'

export interface Link {
  target: string
  rel: string[]
  params: Record<string, string>
}

export function parseLinkHeader(headers: string | string[] | undefined | null): Link[] {
  if (headers == null) return []
  const out: Link[] = []
  for (const v of Array.isArray(headers) ? headers : [headers]) out.push(...parseOne(v))
  return out
}

function parseOne(s: string): Link[] {
  const out: Link[] = []
  let i = 0
  while (i < s.length) {
    const open = s.indexOf('<', i)
    if (open < 0) break
    const close = s.indexOf('>', open + 1)
    if (close < 0) break
    const link: Link = { target: s.slice(open + 1, close).trim(), rel: [], params: {} }
    i = close + 1
    // parameters until a comma outside quotes
    while (i < s.length) {
      while (s[i] === ' ' || s[i] === '\t') i++
      if (s[i] === ',') {
        i++
        break
      }
      if (s[i] !== ';') {
        // stray text: skip to the next separator
        i++
        continue
      }
      i++
      while (s[i] === ' ' || s[i] === '\t') i++
      const nameStart = i
      while (i < s.length && /[!#$%&'*+\-.^_`|~0-9A-Za-z]/.test(s[i]!)) i++
      const name = s.slice(nameStart, i).toLowerCase()
      while (s[i] === ' ' || s[i] === '\t') i++
      let value = ''
      if (s[i] === '=') {
        i++
        while (s[i] === ' ' || s[i] === '\t') i++
        if (s[i] === '"') {
          i++
          while (i < s.length && s[i] !== '"') {
            if (s[i] === '\\' && i + 1 < s.length) i++
            value += s[i++]
          }
          i++
        } else {
          const vStart = i
          while (i < s.length && !/[;,\s]/.test(s[i]!)) i++
          value = s.slice(vStart, i)
        }
      }
      // RFC 8288 §3.3: only the first occurrence of rel counts
      if (name && !(name in link.params)) link.params[name] = value
    }
    link.rel = (link.params.rel ?? '').toLowerCase().split(/\s+/).filter(Boolean)
    out.push(link)
  }
  return out
}

/**
 * The `rel="next"` target resolved against the URL of the page that carried it; a target that is
 * no URL is a protocol error (stopping silently would return a partial list as if complete).
 */
export function nextLink(headers: string | string[] | undefined | null, pageUrl: URL): URL | undefined {
  const link = parseLinkHeader(headers).find((l) => l.rel.includes('next'))
  if (!link) return undefined
  try {
    return new URL(link.target, pageUrl)
  } catch {
    throw new RegistryError('PROTOCOL_ERROR', 'The registry sent a Link header whose next page is not a URL: report this to the registry operator.')
  }
}
