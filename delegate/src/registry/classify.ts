/**
 * From a registry answer that is not what was asked for to the SPEC §5 code, with a message that
 * says what to do next. The same status means different things on different endpoints: a 404 on
 * `/v2/` is "not a registry", on `_catalog` "no catalog", on `tags/list` "no such repository".
 */
import { RegistryError, registryErrorsOf, firstRegistryCode } from './errors.ts'
import type { HttpResponse } from './http.ts'
import { parseRetryAfter } from './retry.ts'
import { redactUrl } from './redact.ts'
import type { AuthOutcome } from './session.ts'

export type Endpoint = { kind: 'ping' } | { kind: 'catalog' } | { kind: 'tags'; repository: string }

export function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'))
  } catch {
    return undefined
  }
}

/** Go's net/http answers plain HTTP on a TLS port with this 400. */
const HTTP_TO_HTTPS = /client sent an http request to an https server/i

export function classifyFailure(res: HttpResponse & { auth: AuthOutcome }, endpoint: Endpoint): RegistryError {
  const body = parseJson(res.body)
  const registryErrors = registryErrorsOf(body)
  const extras = { status: res.status, url: redactUrl(res.url), registryErrors }
  const host = res.url.host
  const status = res.status
  const { auth } = res
  const what = endpoint.kind === 'tags' ? `the tags of ${endpoint.repository}` : endpoint.kind === 'catalog' ? 'the catalog' : '/v2/'

  if (status === 401) {
    const error = auth.challenge?.params.error
    if (error === 'insufficient_scope' || (auth.sent === 'bearer' && error === undefined && auth.sentCredentials)) {
      if (endpoint.kind === 'catalog') return catalogUnsupported(extras, auth.sentCredentials)
      if (endpoint.kind === 'tags') {
        return auth.sentCredentials
          ? new RegistryError('ACCESS_DENIED', `The registry does not let these credentials pull ${endpoint.repository} (or it does not exist): check the name, and grant the user pull rights on it.`, extras)
          : // an anonymous token that grants nothing for this repository (SPEC §5): private, or
            // absent, and registries such as Docker Hub do not say which
            new RegistryError('AUTH_REQUIRED', `${host} grants anonymous pulls nothing for ${endpoint.repository}: it is private (set credentials on the connector that may pull it) or it does not exist (check the name).`, extras)
      }
      return new RegistryError('ACCESS_DENIED', `The registry accepts these credentials but refuses access to ${what}: grant the user pull rights.`, extras)
    }
    if (auth.sent === 'bearer' && error === 'invalid_token') {
      return new RegistryError('PROTOCOL_ERROR', `${host} rejects the tokens its own token service issues: check the registry's token auth configuration (issuer, service, root certificates).`, extras)
    }
    if (!auth.sentCredentials) {
      return new RegistryError('AUTH_REQUIRED', `${host} requires credentials for ${what}: set a username and password on the connector.`, extras)
    }
    return new RegistryError('INVALID_CREDENTIALS', `${host} refused the username and password: check them, or the access token used as password.`, extras)
  }
  if (status === 403) {
    if (endpoint.kind === 'catalog') return catalogUnsupported(extras, auth.sentCredentials)
    return new RegistryError('ACCESS_DENIED', `${host} refuses these credentials access to ${what}: grant the user pull rights${endpoint.kind === 'tags' ? ` on ${endpoint.repository}` : ''}.`, extras)
  }
  if (status === 404 || status === 405) {
    if (endpoint.kind === 'catalog') return catalogUnsupported(extras, auth.sentCredentials)
    if (endpoint.kind === 'tags') {
      return new RegistryError('NAME_UNKNOWN', `The repository ${endpoint.repository} does not exist on ${host}: check the image name (list the images to see what there is).`, extras)
    }
  }
  if (status === 429) {
    const retryAfterMs = parseRetryAfter(res.headers['retry-after'])
    const when = retryAfterMs !== undefined ? `in ${Math.ceil(retryAfterMs / 1000)} s` : 'later'
    return new RegistryError('RATE_LIMITED', `${host} rate-limits this delegate: try again ${when}, or use credentials with a higher limit.`, { ...extras, retryAfterMs })
  }
  if (status >= 500 || status === 408) {
    return new RegistryError('SERVER_ERROR', `${host} failed with ${status} after retries: try again later, or ask the registry operator.`, extras)
  }
  if (status === 400 && HTTP_TO_HTTPS.test(res.body.toString('utf8', 0, 200))) {
    return new RegistryError('TLS_PROTOCOL_MISMATCH', `${host} speaks https on this port: use https:// in the registry URL.`, extras)
  }
  if (status >= 300 && status < 400) {
    const location = typeof res.headers.location === 'string' ? redactUrl(new URL(res.headers.location, res.url)) : undefined
    return new RegistryError('PROTOCOL_ERROR', `${host} redirects ${what}${location ? ` to ${location}` : ''}: use the registry's own URL in the connector.`, extras)
  }
  const code = firstRegistryCode(body)
  if (code === 'NAME_UNKNOWN' && endpoint.kind === 'tags') {
    return new RegistryError('NAME_UNKNOWN', `The repository ${endpoint.repository} does not exist on ${host}: check the image name.`, extras)
  }
  if (code === 'NAME_INVALID' && endpoint.kind === 'tags') {
    return new RegistryError('INVALID_INPUT', `${host} calls ${endpoint.repository} an invalid repository name: check the image name.`, extras)
  }
  return new RegistryError('PROTOCOL_ERROR', `${host} answered ${status} to ${what}${code ? ` (${code})` : ''}: check the registry URL, or report this to the registry operator.`, extras)
}

function catalogUnsupported(extras: { status: number; url: string; registryErrors: unknown[] | undefined }, withCredentials: boolean): RegistryError {
  return new RegistryError(
    'CATALOG_UNSUPPORTED',
    `The registry does not list its repositories to ${withCredentials ? 'these credentials' : 'anonymous users'} (Docker Hub, GHCR and others never do): list the tags of a named image instead${withCredentials ? '' : ', or set credentials that may read the catalog'}.`,
    extras,
  )
}
