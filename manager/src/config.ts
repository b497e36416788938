/** The manager's settings (SPEC §2). The only file of the manager that reads process.env. */
import convict from 'convict'
import { checkOptionalHttpUrl, loadValidated } from '../../common/src/load-config.ts'
import { takeTracing, tracingSchema, type TracingConfig } from '../../common/src/tracing-config.ts'
import { LIMITS } from '../../protocol/src/limits.ts'
import { redisConnection } from './redis-options.ts'

const base64Key32 = {
  name: 'base64-key-32',
  validate(value: unknown) {
    if (typeof value !== 'string' || Buffer.from(value, 'base64').length !== 32) {
      throw new Error('must be 32 bytes, base64-encoded (openssl rand -base64 32)')
    }
  },
}
convict.addFormat(base64Key32)
convict.addFormat({
  name: 'required-string',
  validate(value: unknown) {
    if (typeof value !== 'string' || value.trim() === '') throw new Error('is required')
  },
})
convict.addFormat({
  name: 'redis-url',
  validate(value: unknown) {
    if (typeof value !== 'string' || !/^(rediss?|redis\+sentinel):\/\/./.test(value)) {
      throw new Error('must be redis://host:port, rediss://… or redis+sentinel://host:port[,host:port]/master')
    }
    redisConnection(value)
  },
})
convict.addFormat({
  name: 'optional-base64-key-32',
  validate(value: unknown) {
    if (value !== '') base64Key32.validate(value)
  },
})

convict.addFormat({
  name: 'optional-http-url',
  validate: (value: unknown) => checkOptionalHttpUrl(value, 'https://hooks.example.com/registry-delegates'),
})
convict.addFormat({
  name: 'trace-url-template',
  validate(value: unknown) {
    if (value === '') return
    const text = String(value)
    let url: URL | undefined
    try {
      url = new URL(text.replaceAll('{traceId}', '0'))
    } catch {
      url = undefined
    }
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || !text.includes('{traceId}')) {
      throw new Error('must be an http(s) URL holding {traceId}, e.g. http://jaeger:16686/trace/{traceId}')
    }
  },
})
convict.addFormat({
  name: 'interval-ms',
  validate(value: unknown) {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 500) throw new Error('must be a whole number of milliseconds, at least 500')
  },
  coerce: (value: unknown) => Number(value),
})

const schema = {
  host: { doc: 'Address the HTTP server binds', format: String, default: '0.0.0.0', env: 'MANAGER_HOST' },
  port: { doc: 'HTTP port (REST, console, delegate WebSocket)', format: 'port', default: 8080, env: 'MANAGER_PORT' },
  redisUrl: { doc: 'Redis holding all state', format: 'redis-url', default: 'redis://127.0.0.1:6379', env: 'REDIS_URL' },
  apiKey: {
    doc: 'Bearer key for /api/v1',
    format: 'required-string',
    default: '',
    env: 'MANAGER_API_KEY',
    sensitive: true,
  },
  secretsKey: {
    doc: 'AES-256-GCM key for secrets at rest (32 bytes, base64)',
    format: 'base64-key-32',
    default: '',
    env: 'MANAGER_SECRETS_KEY',
    sensitive: true,
  },
  secretsOldKey: {
    doc: 'A previous secrets key, still accepted for decryption while values are rotated',
    format: 'optional-base64-key-32',
    default: '',
    env: 'MANAGER_SECRETS_OLD_KEY',
    sensitive: true,
  },
  logLevel: {
    doc: 'pino level',
    format: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
    default: 'info',
    env: 'LOG_LEVEL',
  },
  queuePrefix: { doc: 'Redis key prefix for all manager state', format: String, default: 'rd', env: 'MANAGER_QUEUE_PREFIX' },
  heartbeatTimeoutMs: {
    doc: 'A delegate silent for this long is considered gone and its tasks run elsewhere',
    format: 'nat',
    default: 15_000,
    env: 'MANAGER_HEARTBEAT_TIMEOUT_MS',
  },
  heartbeatIntervalMs: {
    doc: 'How often delegates are asked to heartbeat',
    format: 'nat',
    default: 5_000,
    env: 'MANAGER_HEARTBEAT_INTERVAL_MS',
  },
  unreachableMarkMs: {
    doc: 'How long a delegate stays marked unable to reach a registry host',
    format: 'nat',
    default: 60_000,
    env: 'MANAGER_UNREACHABLE_MARK_MS',
  },
  workerConcurrency: {
    doc: 'Tasks one manager replica has on delegates at once (tasks waiting for a delegate are parked and hold none)',
    format: 'nat',
    default: 10_000,
    env: 'MANAGER_WORKER_CONCURRENCY',
  },
  alertWebhookUrl: {
    doc: 'Where alert events are POSTed as JSON (off when empty); may hold a token, so it is never logged',
    format: 'optional-http-url',
    default: '',
    env: 'MANAGER_ALERT_WEBHOOK_URL',
    sensitive: true,
  },
  alertWebhookSecret: {
    doc: 'HMAC-SHA256 key: each alert carries the signature of its body (X-RD-Signature)',
    format: String,
    default: '',
    env: 'MANAGER_ALERT_WEBHOOK_SECRET',
    sensitive: true,
  },
  watchIntervalMs: {
    doc: 'How often one replica checks selector sets, samples delegate load and forwards stranded alerts',
    format: 'interval-ms',
    default: 10_000,
    env: 'MANAGER_WATCH_INTERVAL_MS',
  },
  traceUrlTemplate: {
    doc: 'Where the console links a task\'s trace: a URL with {traceId} (a Jaeger or Tempo UI)',
    format: 'trace-url-template',
    default: '',
    env: 'MANAGER_TRACE_URL_TEMPLATE',
  },
  ...tracingSchema,
}

export type ManagerConfig = Readonly<{
  host: string
  port: number
  redisUrl: string
  apiKey: string
  secretsKey: string
  secretsOldKey: string
  logLevel: string
  queuePrefix: string
  heartbeatTimeoutMs: number
  heartbeatIntervalMs: number
  unreachableMarkMs: number
  workerConcurrency: number
  alertWebhookUrl: string
  alertWebhookSecret: string
  watchIntervalMs: number
  /** '' or a URL with {traceId} */
  traceUrlTemplate: string
  /** null: tracing off (no OTLP endpoint) */
  tracing: TracingConfig | null
}>

/**
 * Reads env (then `--config file.json` when given) and validates strictly. Throws an Error
 * whose message is one line per wrong setting, naming its environment variable.
 */
export function loadManagerConfig(argv: readonly string[] = process.argv.slice(2), env = process.env): ManagerConfig {
  const p = loadValidated(convict(schema, { env, args: [] }), schema, argv)
  // what delegates accept in welcome: a manager must not configure its delegates out of the protocol
  if (p.heartbeatIntervalMs < LIMITS.heartbeatMs.min || p.heartbeatIntervalMs > LIMITS.heartbeatMs.max) {
    throw new Error(`MANAGER_HEARTBEAT_INTERVAL_MS must be from ${LIMITS.heartbeatMs.min} to ${LIMITS.heartbeatMs.max}`)
  }
  if (p.alertWebhookSecret !== '' && p.alertWebhookUrl === '') {
    throw new Error('MANAGER_ALERT_WEBHOOK_SECRET is set but MANAGER_ALERT_WEBHOOK_URL is not: set the webhook to send alerts to, or drop the secret')
  }
  const { tracing, rest } = takeTracing(p, 'registry-delegates-manager')
  return Object.freeze({ ...rest, tracing })
}

/** Every environment variable this process reads (the README's configuration table lists them). */
export const managerEnv: readonly string[] = Object.values(schema).map((entry) => entry.env)
