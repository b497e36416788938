/**
 * From the URL a user typed for a connector to the registry the client talks to, and from an
 * image name to the repository it asks for. Both are checked here, before any request.
 *
 *   https://registry.hub.docker.com/v2/ ┐
 *   https://index.docker.io/v2/         │
 *   index.docker.io/v1/                 ├─▶ https://registry-1.docker.io   (nginx → library/nginx)
 *   docker.io, registry-1.docker.io:443 ┘
 *   localhost:5000, 127.0.0.1:5000      ──▶ http://…   (loopback without a scheme means http)
 *   registry.example.com/team/          ──▶ https://registry.example.com, prefix "team/"
 */

import { MAX_NAME_LENGTH, PATH_COMPONENT as COMPONENT } from './reference-grammar.ts'

export const DOCKER_HUB_HOST = 'registry-1.docker.io'
const DOCKER_HUB_ALIASES = new Set([
  'docker.io',
  'index.docker.io',
  'registry.hub.docker.com',
  'registry-1.docker.io',
  'hub.docker.com',
  'registry.docker.io',
])

export interface NormalizedRegistry {
  /** The normalised URL, safe to show: scheme, host, port and namespace prefix, no credentials. */
  url: string
  /** `scheme://host[:port]` that requests go to. */
  origin: string
  /** Namespace prefix from a path left after the host (`team/`), or ''. */
  prefix: string
  dockerHub: boolean
  /** The typed URL named the retired V1 API (`/v1`): kept to explain a V2 failure. */
  typedV1: boolean
  /** Credentials found in the URL's userinfo; never echoed. */
  username?: string
  password?: string
}

const SCHEME = /^([a-z][a-z0-9+.-]*):\/\//i

export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.toLowerCase().replace(/^\[|\]$/g, '')
  return h === 'localhost' || h.endsWith('.localhost') || h === '::1' || /^127(?:\.\d{1,3}){3}$/.test(h)
}

/**
 * A registry URL or repository name that cannot be right, caught before any request. The
 * delegate reports it as the task error INVALID_INPUT, the manager as a 400 naming the field.
 */
export class InvalidRegistryReference extends Error {
  override name = 'InvalidRegistryReference'
  readonly code = 'INVALID_INPUT'
}

function invalid(message: string): InvalidRegistryReference {
  return new InvalidRegistryReference(message)
}

export function normalizeRegistryUrl(input: string): NormalizedRegistry {
  const typed = input.trim()
  if (typed === '') throw invalid('The registry URL is empty: enter the registry host, e.g. registry.example.com or https://registry.example.com.')
  if (/\s/.test(typed)) throw invalid('The registry URL contains whitespace: enter the registry host, e.g. registry.example.com.')

  const m = SCHEME.exec(typed)
  let scheme = m ? m[1]!.toLowerCase() : undefined
  if (scheme !== undefined && scheme !== 'http' && scheme !== 'https') {
    throw invalid(`The registry URL uses "${scheme}://": use https:// (or http:// for a registry without TLS).`)
  }
  let u: URL
  try {
    u = new URL(m ? typed : `https://${typed}`)
  } catch {
    throw invalid('The registry URL cannot be parsed: enter a host name with an optional port, e.g. registry.example.com:5000.')
  }
  if (u.hostname === '') throw invalid('The registry URL has no host: enter e.g. registry.example.com.')

  const username = u.username ? safeDecode(u.username) : undefined
  const password = u.password ? safeDecode(u.password) : undefined
  const hostname = u.hostname.toLowerCase()
  if (scheme === undefined) scheme = isLoopbackHost(hostname) ? 'http' : 'https'

  let path = u.pathname.replace(/\/+$/, '')
  let typedV1 = false
  const version = /(?:^|\/)(v1|v2)$/.exec(path)
  if (version) {
    typedV1 = version[1] === 'v1'
    path = path.slice(0, path.length - version[0].length)
  }
  const segments = path.split('/').filter((s) => s !== '')
  for (const s of segments) {
    if (!COMPONENT.test(s)) {
      throw invalid(`The registry URL path "${segments.join('/')}" is not a namespace: remove it, or use lower-case names separated by "/".`)
    }
  }

  const dockerHub = DOCKER_HUB_ALIASES.has(hostname) && (u.port === '' || u.port === '443')
  let origin: string
  if (dockerHub) {
    origin = `https://${DOCKER_HUB_HOST}`
  } else {
    const port = u.port !== '' ? `:${u.port}` : ''
    origin = `${scheme}://${u.hostname}${port}`
    // URL drops default ports, which is what we want: `https://h:443` is `https://h`.
    origin = new URL(origin).origin
  }
  const prefix = segments.length > 0 ? `${segments.join('/')}/` : ''
  const out: NormalizedRegistry = {
    url: prefix ? `${origin}/${prefix.slice(0, -1)}` : origin,
    origin,
    prefix,
    dockerHub,
    typedV1,
  }
  if (username !== undefined) out.username = username
  if (password !== undefined) out.password = password
  return out
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s)
  } catch {
    return s
  }
}

/**
 * The repository to ask for: checked against distribution's grammar, prefixed by the connector's
 * namespace, and `library/` for one-segment names on Docker Hub.
 */
export function normalizeRepository(reg: NormalizedRegistry, image: string | undefined): string {
  const typed = (image ?? '').trim().replace(/^\/+|\/+$/g, '')
  if (typed === '') throw invalid('No image name was given: name the repository, e.g. library/nginx.')
  if (/[@:]/.test(typed.split('/').at(-1) ?? '')) {
    throw invalid(`"${typed}" carries a tag or digest: give the repository name alone, e.g. ${typed.split(/[@:]/)[0]}.`)
  }
  let name = typed.toLowerCase() === typed ? typed : ''
  if (name === '') throw invalid(`"${typed}" has upper-case letters: repository names are lower-case.`)
  const segments = name.split('/')
  // A name typed with this registry's host in front ("docker.io/nginx"): drop the host.
  const host = new URL(reg.origin).host
  if (segments.length > 1 && (segments[0] === host || (reg.dockerHub && DOCKER_HUB_ALIASES.has(segments[0]!)))) segments.shift()
  for (const s of segments) {
    if (!COMPONENT.test(s)) {
      throw invalid(`"${typed}" is not a repository name: use lower-case letters, digits and . _ - separators, with "/" between parts.`)
    }
  }
  name = segments.join('/')
  if (reg.prefix && !name.startsWith(reg.prefix)) name = reg.prefix + name
  if (reg.dockerHub && !name.includes('/')) name = `library/${name}`
  if (name.length > MAX_NAME_LENGTH) throw invalid(`"${typed}" is longer than 255 characters: repository names are shorter.`)
  return name
}
