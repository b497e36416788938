/** The delegate's settings (SPEC §2). The only file of the delegate that reads process.env. */
import { readFileSync } from 'node:fs'
import { hostname } from 'node:os'
import convict from 'convict'
import { loadValidated } from '../../common/src/load-config.ts'
import { takeTracing, tracingSchema, type TracingConfig } from '../../common/src/tracing-config.ts'
import { LIMITS } from '../../protocol/src/limits.ts'
import { DEFAULT_PASSWORD_REFS, parsePasswordRefs, type PasswordRefPolicy } from './resolve-password.ts'

convict.addFormat({
  name: 'manager-urls',
  validate(value: unknown) {
    const urls = String(value).split(',').map((s) => s.trim()).filter(Boolean)
    if (urls.length === 0) throw new Error('is required (e.g. http://127.0.0.1:8080)')
    for (const u of urls) {
      let parsed: URL
      try {
        parsed = new URL(u)
      } catch {
        throw new Error(`has ${JSON.stringify(u)}, which is not a URL`)
      }
      if (!['http:', 'https:', 'ws:', 'wss:'].includes(parsed.protocol)) throw new Error(`must use http(s) or ws(s), not ${parsed.protocol}`)
    }
  },
})

convict.addFormat({
  name: 'password-refs',
  validate(value: unknown) {
    try {
      parsePasswordRefs(String(value))
    } catch (e) {
      throw new Error((e as Error).message.replace(/^DELEGATE_PASSWORD_REFS /, ''), { cause: e })
    }
  },
})

const schema = {
  managerUrl: { doc: 'Manager URL(s), comma-separated; the delegate fails over in order', format: 'manager-urls', default: '', env: 'MANAGER_URL' },
  token: { doc: 'Delegate token', format: String, default: '', env: 'DELEGATE_TOKEN', sensitive: true },
  tokenFile: {
    doc: 'File holding the delegate token, instead of DELEGATE_TOKEN (a mounted Secret, a compose volume)',
    format: String,
    default: '',
    env: 'DELEGATE_TOKEN_FILE',
  },
  name: { doc: 'Delegate name (also a selector)', format: String, default: hostname(), env: 'DELEGATE_NAME' },
  tags: { doc: 'Comma-separated selectors this delegate offers', format: String, default: '', env: 'DELEGATE_TAGS' },
  capacity: { doc: 'Concurrent tasks', format: 'nat', default: 8, env: 'DELEGATE_CAPACITY' },
  caFile: { doc: 'Extra PEM CAs trusted for registry calls', format: String, default: '', env: 'REGISTRY_CA_FILE' },
  httpsProxy: { doc: 'Proxy for https', format: String, default: '', env: 'HTTPS_PROXY' },
  httpProxy: { doc: 'Proxy for http', format: String, default: '', env: 'HTTP_PROXY' },
  noProxy: { doc: 'Hosts reached without proxy', format: String, default: '', env: 'NO_PROXY' },
  logLevel: {
    doc: 'pino level',
    format: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
    default: 'info',
    env: 'LOG_LEVEL',
  },
  drainGraceMs: {
    doc: 'On SIGTERM, how long running tasks may take before the delegate exits anyway',
    format: 'nat',
    default: 30_000,
    env: 'DELEGATE_DRAIN_GRACE_MS',
  },
  healthPort: { doc: 'Port of the delegate health endpoint and its /metrics (0: off)', format: 'port', default: 0, env: 'DELEGATE_HEALTH_PORT' },
  healthHost: { doc: 'Address the health endpoint binds', format: String, default: '0.0.0.0', env: 'DELEGATE_HEALTH_HOST' },
  ...tracingSchema,
  passwordRefs: {
    doc: 'Password references connectors may use on this delegate: env:NAME, env:PREFIX* or file:/dir/*, comma-separated',
    format: 'password-refs',
    default: DEFAULT_PASSWORD_REFS,
    env: 'DELEGATE_PASSWORD_REFS',
  },
}

export type DelegateConfig = Readonly<{
  managerUrls: string[]
  token: string
  name: string
  tags: string[]
  capacity: number
  caFile: string
  proxy: { httpProxy?: string; httpsProxy?: string; noProxy?: string }
  logLevel: string
  drainGraceMs: number
  healthPort: number
  healthHost: string
  /** null: tracing off (no OTLP endpoint) */
  tracing: TracingConfig | null
  /** what `env:NAME` password references resolve against */
  env: Readonly<Record<string, string | undefined>>
  /** DELEGATE_PASSWORD_REFS, parsed; the delegate adds `env` */
  passwordRefs: Omit<PasswordRefPolicy, 'env'>
}>

export function loadDelegateConfig(argv: readonly string[] = process.argv.slice(2), env = process.env): DelegateConfig {
  // lower-case proxy variables are what curl reads first; honour them too
  const merged = {
    ...env,
    HTTPS_PROXY: env.HTTPS_PROXY ?? env.https_proxy,
    HTTP_PROXY: env.HTTP_PROXY ?? env.http_proxy,
    NO_PROXY: env.NO_PROXY ?? env.no_proxy,
  }
  const { tracing, rest: p } = takeTracing(loadValidated(convict(schema, { env: merged, args: [] }), schema, argv), 'registry-delegate')
  let token = p.token.trim()
  if (p.tokenFile) {
    if (token) throw new Error('DELEGATE_TOKEN and DELEGATE_TOKEN_FILE are both set; keep one')
    try {
      token = readFileSync(p.tokenFile, 'utf8').trim()
    } catch (e) {
      throw new Error(`DELEGATE_TOKEN_FILE cannot be read: ${p.tokenFile} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { cause: e })
    }
    if (!token) throw new Error(`DELEGATE_TOKEN_FILE names an empty file: ${p.tokenFile}`)
  }
  if (!token) throw new Error('DELEGATE_TOKEN is required (create one with POST /api/v1/delegate-tokens), or DELEGATE_TOKEN_FILE')
  // what the manager accepts in hello: a delegate must not configure itself out of the protocol
  if (p.capacity < 1 || p.capacity > LIMITS.capacity) throw new Error(`DELEGATE_CAPACITY must be from 1 to ${LIMITS.capacity}`)
  const name = p.name.trim()
  if (name === '' || name.length > LIMITS.name) throw new Error(`DELEGATE_NAME must be 1 to ${LIMITS.name} characters`)
  const tags = p.tags.split(',').map((s) => s.trim()).filter(Boolean)
  if (tags.length > LIMITS.tags) throw new Error(`DELEGATE_TAGS may hold at most ${LIMITS.tags} selectors`)
  if (tags.some((t) => t.length > LIMITS.tag)) throw new Error(`DELEGATE_TAGS selectors are each at most ${LIMITS.tag} characters`)
  const proxy: { httpProxy?: string; httpsProxy?: string; noProxy?: string } = {}
  if (p.httpProxy) proxy.httpProxy = p.httpProxy
  if (p.httpsProxy) proxy.httpsProxy = p.httpsProxy
  if (p.noProxy) proxy.noProxy = p.noProxy
  return Object.freeze({
    managerUrls: p.managerUrl.split(',').map((s) => s.trim()).filter(Boolean),
    token,
    name,
    tags,
    capacity: p.capacity,
    caFile: p.caFile,
    proxy,
    logLevel: p.logLevel,
    drainGraceMs: p.drainGraceMs,
    healthPort: p.healthPort,
    healthHost: p.healthHost,
    tracing,
    env,
    passwordRefs: { patterns: parsePasswordRefs(p.passwordRefs), spec: p.passwordRefs, ownFiles: p.tokenFile ? [p.tokenFile] : [] },
  })
}

/** Every environment variable this process reads (the README's configuration table lists them). */
export const delegateEnv: readonly string[] = Object.values(schema).map((entry) => entry.env)
