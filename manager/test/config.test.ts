import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { loadDelegateConfig } from '../../delegate/src/config.ts'
import { loadManagerConfig } from '../src/config.ts'
import { redisConnection } from '../src/redis-options.ts'

const key = Buffer.alloc(32, 7).toString('base64')
const dir = mkdtempSync(join(tmpdir(), 'rd-config-'))

describe('manager configuration', () => {
  it('names every missing or wrong setting by its variable, one per line, never its value', () => {
    let message = ''
    try {
      loadManagerConfig([], { MANAGER_SECRETS_KEY: 'hunter2-not-base64-32', MANAGER_PORT: '99999' })
    } catch (e) {
      message = (e as Error).message
    }
    const lines = message.split('\n')
    expect(lines).toHaveLength(3)
    expect(message).toMatch(/^MANAGER_API_KEY is required$/m)
    expect(message).toMatch(/^MANAGER_SECRETS_KEY must be 32 bytes, base64-encoded/m)
    expect(message).toMatch(/^MANAGER_PORT /m)
    expect(message).not.toContain('hunter2')
  })

  it('takes from --config file.json what the environment does not set (convict: the environment wins)', () => {
    const file = join(dir, 'manager.json')
    writeFileSync(file, JSON.stringify({ port: 9090, logLevel: 'debug' }))
    const c = loadManagerConfig(['--config', file], { MANAGER_API_KEY: 'k', MANAGER_SECRETS_KEY: key, LOG_LEVEL: 'warn' })
    expect(c.port).toBe(9090)
    expect(c.logLevel).toBe('warn')
    expect(c.apiKey).toBe('k')
    expect(c.redisUrl).toBe('redis://127.0.0.1:6379')
    expect(Object.isFrozen(c)).toBe(true)
  })
})

describe('alert settings', () => {
  const base = { MANAGER_API_KEY: 'k', MANAGER_SECRETS_KEY: key }

  it('are off by default, and the webhook takes an http(s) URL and a secret', () => {
    expect(loadManagerConfig([], base)).toMatchObject({ alertWebhookUrl: '', alertWebhookSecret: '', watchIntervalMs: 10_000 })
    const c = loadManagerConfig([], { ...base, MANAGER_ALERT_WEBHOOK_URL: 'https://hooks.example.com/rd?token=abc', MANAGER_ALERT_WEBHOOK_SECRET: 'shh' })
    expect(c).toMatchObject({ alertWebhookUrl: 'https://hooks.example.com/rd?token=abc', alertWebhookSecret: 'shh' })
  })

  it('refuse a webhook URL that is not http(s) without echoing it, and a watch interval under 500 ms', () => {
    let message = ''
    try {
      loadManagerConfig([], { ...base, MANAGER_ALERT_WEBHOOK_URL: 'ftp://hooks.example.com/secret-path', MANAGER_WATCH_INTERVAL_MS: '10' })
    } catch (e) {
      message = (e as Error).message
    }
    expect(message).toMatch(/^MANAGER_ALERT_WEBHOOK_URL must be an http:\/\/ or https:\/\/ URL/m)
    expect(message).toMatch(/^MANAGER_WATCH_INTERVAL_MS /m)
    expect(message).not.toContain('secret-path')
  })

  it('refuse a secret without a webhook to sign for', () => {
    expect(() => loadManagerConfig([], { ...base, MANAGER_ALERT_WEBHOOK_SECRET: 'shh' })).toThrow(/MANAGER_ALERT_WEBHOOK_SECRET is set but MANAGER_ALERT_WEBHOOK_URL is not/)
  })
})

describe('REDIS_URL', () => {
  it.each([
    ['redis://127.0.0.1:6390/2', { url: 'redis://127.0.0.1:6390/2' }],
    ['rediss://u:p@redis.example.com:6380', { url: 'rediss://u:p@redis.example.com:6380' }],
    [
      'redis+sentinel://:s%40cret@sentinel-a:26379,[::1]:26380,sentinel-c/mymaster/3',
      {
        sentinels: [
          { host: 'sentinel-a', port: 26379 },
          { host: '::1', port: 26380 },
          { host: 'sentinel-c', port: 26379 },
        ],
        name: 'mymaster',
        password: 's@cret',
        db: 3,
      },
    ],
  ])('%s → ioredis options', (url, expected) => {
    expect(redisConnection(url)).toEqual({ maxRetriesPerRequest: null, ...expected })
  })

  it('refuses other schemes and a sentinel URL without a master name, naming the variable', () => {
    const env = { MANAGER_API_KEY: 'k', MANAGER_SECRETS_KEY: key }
    expect(() => loadManagerConfig([], { ...env, REDIS_URL: 'http://127.0.0.1:6379' })).toThrow(/^REDIS_URL must be redis:\/\//)
    expect(() => loadManagerConfig([], { ...env, REDIS_URL: 'redis+sentinel://127.0.0.1:26379' })).toThrow(/^REDIS_URL .*names its master/)
  })
})

describe('manager configuration limits', () => {
  it('refuses a heartbeat interval delegates would refuse in welcome', () => {
    const env = { MANAGER_API_KEY: 'k', MANAGER_SECRETS_KEY: key }
    expect(() => loadManagerConfig([], { ...env, MANAGER_HEARTBEAT_INTERVAL_MS: '0' })).toThrow(/^MANAGER_HEARTBEAT_INTERVAL_MS must be from 100 to 600000/)
    expect(() => loadManagerConfig([], { ...env, MANAGER_HEARTBEAT_INTERVAL_MS: '600001' })).toThrow(/^MANAGER_HEARTBEAT_INTERVAL_MS/)
    expect(loadManagerConfig([], { ...env, MANAGER_HEARTBEAT_INTERVAL_MS: '600000' }).heartbeatIntervalMs).toBe(600_000)
  })
})

describe('delegate configuration', () => {
  const base = { MANAGER_URL: 'http://127.0.0.1:8080,http://127.0.0.1:8081' }

  it('splits manager URLs and tags, and honours lower-case proxy variables as curl does', () => {
    const c = loadDelegateConfig([], { ...base, DELEGATE_TOKEN: 'rdt_x', DELEGATE_TAGS: ' eu, gpu ,', https_proxy: 'http://127.0.0.1:3128' })
    expect(c.managerUrls).toEqual(['http://127.0.0.1:8080', 'http://127.0.0.1:8081'])
    expect(c.tags).toEqual(['eu', 'gpu'])
    expect(c.proxy).toEqual({ httpsProxy: 'http://127.0.0.1:3128' })
  })

  it('reads the token from DELEGATE_TOKEN_FILE, and refuses both or neither', () => {
    const file = join(dir, 'token')
    writeFileSync(file, 'rdt_from_file\n')
    expect(loadDelegateConfig([], { ...base, DELEGATE_TOKEN_FILE: file }).token).toBe('rdt_from_file')
    expect(() => loadDelegateConfig([], { ...base, DELEGATE_TOKEN_FILE: file, DELEGATE_TOKEN: 'rdt_x' })).toThrow(/both set/)
    expect(() => loadDelegateConfig([], base)).toThrow(/^DELEGATE_TOKEN is required/)
    expect(() => loadDelegateConfig([], { ...base, DELEGATE_TOKEN_FILE: join(dir, 'missing') })).toThrow(/DELEGATE_TOKEN_FILE cannot be read.*ENOENT/)
  })

  it('allows env:REGISTRY_PASSWORD_* by default and takes DELEGATE_PASSWORD_REFS, refusing a malformed pattern by name', () => {
    const c = loadDelegateConfig([], { ...base, DELEGATE_TOKEN: 'rdt_x' })
    expect(c.passwordRefs).toMatchObject({ spec: 'env:REGISTRY_PASSWORD_*', patterns: [{ kind: 'env-prefix', prefix: 'REGISTRY_PASSWORD_' }] })
    const file = join(dir, 'token')
    writeFileSync(file, 'rdt_from_file\n')
    const d = loadDelegateConfig([], { ...base, DELEGATE_TOKEN_FILE: file, DELEGATE_PASSWORD_REFS: 'env:HARBOR_PW,file:/run/secrets/*' })
    expect(d.passwordRefs).toEqual({
      spec: 'env:HARBOR_PW,file:/run/secrets/*',
      patterns: [{ kind: 'env', name: 'HARBOR_PW' }, { kind: 'file-dir', dir: '/run/secrets/' }],
      ownFiles: [file],
    })
    expect(loadDelegateConfig([], { ...base, DELEGATE_TOKEN: 'rdt_x', DELEGATE_PASSWORD_REFS: '' }).passwordRefs.patterns).toEqual([])
    expect(() => loadDelegateConfig([], { ...base, DELEGATE_TOKEN: 'rdt_x', DELEGATE_PASSWORD_REFS: 'file:/etc/shadow' })).toThrow(/^DELEGATE_PASSWORD_REFS has "file:\/etc\/shadow"/)
    expect(() => loadDelegateConfig([], { ...base, DELEGATE_TOKEN: 'rdt_x', DELEGATE_PASSWORD_REFS: 'file:/proc/*' })).toThrow(/^DELEGATE_PASSWORD_REFS .*\/proc/)
  })

  it('refuses a name, tags or capacity the manager would refuse in hello', () => {
    const ok = { ...base, DELEGATE_TOKEN: 'rdt_x' }
    expect(() => loadDelegateConfig([], { ...ok, DELEGATE_NAME: 'n'.repeat(254) })).toThrow(/^DELEGATE_NAME .*253/)
    expect(() => loadDelegateConfig([], { ...ok, DELEGATE_NAME: '  ' })).toThrow(/^DELEGATE_NAME/)
    expect(() => loadDelegateConfig([], { ...ok, DELEGATE_CAPACITY: '10001' })).toThrow(/^DELEGATE_CAPACITY .*10000/)
    expect(() => loadDelegateConfig([], { ...ok, DELEGATE_TAGS: Array.from({ length: 257 }, (_, i) => `t${i}`).join(',') })).toThrow(/^DELEGATE_TAGS .*256/)
    expect(() => loadDelegateConfig([], { ...ok, DELEGATE_TAGS: 't'.repeat(254) })).toThrow(/^DELEGATE_TAGS .*253/)
    expect(loadDelegateConfig([], { ...ok, DELEGATE_NAME: 'n'.repeat(253), DELEGATE_CAPACITY: '10000' }).capacity).toBe(10_000)
  })

  it('refuses a manager URL that is not http(s) or ws(s)', () => {
    expect(() => loadDelegateConfig([], { MANAGER_URL: 'ftp://x', DELEGATE_TOKEN: 't' })).toThrow(/^MANAGER_URL must use http\(s\) or ws\(s\)/)
  })
})

describe('tracing settings (the standard OTEL_* variables, both processes)', () => {
  const manager = { MANAGER_API_KEY: 'k', MANAGER_SECRETS_KEY: key }
  const delegate = { MANAGER_URL: 'http://127.0.0.1:8080', DELEGATE_TOKEN: 'rdt_x' }

  it('are off without an endpoint, whatever else is set', () => {
    expect(loadManagerConfig([], { ...manager, OTEL_SERVICE_NAME: 'm', OTEL_TRACES_SAMPLER: 'always_on' }).tracing).toBeNull()
    expect(loadDelegateConfig([], delegate).tracing).toBeNull()
  })

  it('send traces to <endpoint>/v1/traces, or to the traces endpoint as given, over http/protobuf unless told', () => {
    expect(loadManagerConfig([], { ...manager, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }).tracing).toEqual({
      url: 'http://collector:4318/v1/traces',
      protocol: 'http/protobuf',
      headers: '',
      serviceName: 'registry-delegates-manager',
      resourceAttributes: '',
      sampler: 'parentbased_always_on',
      ratio: 1,
    })
    expect(loadDelegateConfig([], { ...delegate, OTEL_EXPORTER_OTLP_ENDPOINT: 'https://otel.example.com/otlp/' }).tracing).toMatchObject({
      url: 'https://otel.example.com/otlp/v1/traces',
      serviceName: 'registry-delegate',
    })
    const c = loadDelegateConfig([], {
      ...delegate,
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://tempo:4318/custom/traces',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
      OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json',
      OTEL_EXPORTER_OTLP_HEADERS: 'x-scope=a,api-key=general',
      OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'api-key=traces',
      OTEL_SERVICE_NAME: 'lab-delegate',
      OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
      OTEL_TRACES_SAMPLER_ARG: '0.25',
    })
    expect(c.tracing).toMatchObject({
      url: 'http://tempo:4318/custom/traces',
      protocol: 'http/json',
      headers: 'x-scope=a,api-key=general,api-key=traces',
      serviceName: 'lab-delegate',
      sampler: 'parentbased_traceidratio',
      ratio: 0.25,
    })
  })

  it('refuse grpc with what to do instead, and wrong samplers, ratios and headers without echoing a header', () => {
    const fails = (env: Record<string, string>) => {
      try {
        loadManagerConfig([], { ...manager, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4317', ...env })
      } catch (e) {
        return (e as Error).message
      }
      return 'no error'
    }
    expect(fails({ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' })).toMatch(/^OTEL_EXPORTER_OTLP_PROTOCOL grpc is not supported: set http\/protobuf .*4318/)
    expect(fails({ OTEL_TRACES_SAMPLER: 'jaeger_remote' })).toMatch(/^OTEL_TRACES_SAMPLER must be one of always_on, /)
    expect(fails({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '2' })).toMatch(/^OTEL_TRACES_SAMPLER_ARG must be a number from 0 to 1/)
    const headers = fails({ OTEL_EXPORTER_OTLP_HEADERS: 'authorization Basic s3cr3t' })
    expect(headers).toMatch(/^OTEL_EXPORTER_OTLP_HEADERS must be key=value pairs/)
    expect(headers).not.toContain('s3cr3t')
    expect(fails({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' })).toMatch(/^OTEL_EXPORTER_OTLP_ENDPOINT must be an http/)
  })

  it('take a trace link template only as an http(s) URL holding {traceId}', () => {
    expect(loadManagerConfig([], { ...manager, MANAGER_TRACE_URL_TEMPLATE: 'http://jaeger:16686/trace/{traceId}' }).traceUrlTemplate).toBe('http://jaeger:16686/trace/{traceId}')
    expect(() => loadManagerConfig([], { ...manager, MANAGER_TRACE_URL_TEMPLATE: 'javascript:alert({traceId})' })).toThrow(/^MANAGER_TRACE_URL_TEMPLATE must be an http\(s\) URL holding \{traceId\}/)
    expect(() => loadManagerConfig([], { ...manager, MANAGER_TRACE_URL_TEMPLATE: 'http://jaeger:16686/search' })).toThrow(/MANAGER_TRACE_URL_TEMPLATE/)
  })
})
