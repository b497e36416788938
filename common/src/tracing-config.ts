/**
 * The standard OpenTelemetry variables, as both processes read them (their config.ts spreads
 * `tracingSchema` into its convict schema). Tracing is off unless an endpoint is set; then
 * `tracingSettings()` says where and how to export, and `startTracing()` (tracing.ts) loads the SDK.
 *
 * Only OTLP over HTTP is built in (`http/protobuf`, the default, and `http/json`). `grpc` would
 * need @grpc/grpc-js, a second HTTP/2 stack in every process, so it is refused at start-up with a
 * line that says to use the collector's HTTP port (4318) instead.
 */
import convict from 'convict'
import { checkOptionalHttpUrl } from './load-config.ts'

export const OTLP_PROTOCOLS = ['http/protobuf', 'http/json'] as const
export type OtlpProtocol = (typeof OTLP_PROTOCOLS)[number]

/** OTEL_TRACES_SAMPLER values we build (those of the specification without a remote service). */
export const SAMPLERS = ['always_on', 'always_off', 'traceidratio', 'parentbased_always_on', 'parentbased_always_off', 'parentbased_traceidratio'] as const
export type SamplerName = (typeof SAMPLERS)[number]

export interface TracingConfig {
  /** where spans are POSTed: the traces endpoint as given, or the endpoint + `/v1/traces` */
  url: string
  protocol: OtlpProtocol
  /** `key=value,key2=value2` (percent-encoded values), as OTEL_EXPORTER_OTLP_HEADERS: may hold an API key */
  headers: string
  serviceName: string
  /** OTEL_RESOURCE_ATTRIBUTES, in the same `key=value,…` form */
  resourceAttributes: string
  sampler: SamplerName
  /** the ratio of the traceidratio samplers, 0 to 1 */
  ratio: number
}

convict.addFormat({
  name: 'otlp-endpoint',
  validate: (value: unknown) => checkOptionalHttpUrl(value, 'http://otel-collector:4318'),
})
convict.addFormat({
  name: 'otlp-protocol',
  validate(value: unknown) {
    if (value === '' || (OTLP_PROTOCOLS as readonly unknown[]).includes(value)) return
    if (value === 'grpc') throw new Error('grpc is not supported: set http/protobuf (or http/json) and point the endpoint at the collector\'s OTLP/HTTP port, 4318')
    throw new Error(`must be one of ${OTLP_PROTOCOLS.join(', ')}`)
  },
})
convict.addFormat({
  name: 'otel-sampler',
  validate(value: unknown) {
    if (value !== '' && !(SAMPLERS as readonly unknown[]).includes(value)) throw new Error(`must be one of ${SAMPLERS.join(', ')}`)
  },
})
convict.addFormat({
  name: 'otel-key-values',
  validate(value: unknown) {
    // the message never repeats the value: headers carry API keys
    if (typeof value !== 'string') throw new Error('must be key=value pairs separated by commas')
    for (const pair of value.split(',')) if (pair.trim() !== '' && !/^\s*[^=\s]+\s*=/.test(pair)) throw new Error('must be key=value pairs separated by commas')
  },
})

/** Spread into each process's convict schema. */
export const tracingSchema = {
  otlpEndpoint: { doc: 'OTLP/HTTP base URL; traces go to <url>/v1/traces (tracing is off when neither endpoint is set)', format: 'otlp-endpoint', default: '', env: 'OTEL_EXPORTER_OTLP_ENDPOINT' },
  otlpTracesEndpoint: { doc: 'OTLP/HTTP URL for traces, used as given (wins over OTEL_EXPORTER_OTLP_ENDPOINT)', format: 'otlp-endpoint', default: '', env: 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT' },
  otlpProtocol: { doc: 'http/protobuf (default) or http/json', format: 'otlp-protocol', default: '', env: 'OTEL_EXPORTER_OTLP_PROTOCOL' },
  otlpTracesProtocol: { doc: 'the protocol for traces (wins over OTEL_EXPORTER_OTLP_PROTOCOL)', format: 'otlp-protocol', default: '', env: 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL' },
  otlpHeaders: { doc: 'Headers sent with every export, key=value,…', format: 'otel-key-values', default: '', env: 'OTEL_EXPORTER_OTLP_HEADERS', sensitive: true },
  otlpTracesHeaders: { doc: 'Headers for trace exports (added to OTEL_EXPORTER_OTLP_HEADERS, winning on the same key)', format: 'otel-key-values', default: '', env: 'OTEL_EXPORTER_OTLP_TRACES_HEADERS', sensitive: true },
  otelServiceName: { doc: 'service.name of the spans', format: String, default: '', env: 'OTEL_SERVICE_NAME' },
  otelResourceAttributes: { doc: 'More resource attributes, key=value,…', format: 'otel-key-values', default: '', env: 'OTEL_RESOURCE_ATTRIBUTES' },
  otelTracesSampler: { doc: 'Sampler (default parentbased_always_on)', format: 'otel-sampler', default: '', env: 'OTEL_TRACES_SAMPLER' },
  otelTracesSamplerArg: { doc: 'The traceidratio samplers\' ratio, 0 to 1 (default 1)', format: String, default: '', env: 'OTEL_TRACES_SAMPLER_ARG' },
}

type TracingProperties = { [K in keyof typeof tracingSchema]: string }

/**
 * Splits a process's validated properties into its own and `tracing`: the settings for
 * startTracing(), or null when no endpoint is set (tracing off). Throws naming the variable.
 */
export function takeTracing<T extends TracingProperties>(props: T, defaultServiceName: string): { tracing: TracingConfig | null; rest: Omit<T, keyof TracingProperties> } {
  const rest: Record<string, unknown> = { ...props }
  for (const key of Object.keys(tracingSchema)) delete rest[key]
  return { tracing: tracingSettings(props, defaultServiceName), rest: rest as Omit<T, keyof TracingProperties> }
}

function tracingSettings(p: TracingProperties, defaultServiceName: string): TracingConfig | null {
  const url = p.otlpTracesEndpoint || (p.otlpEndpoint && withTracesPath(p.otlpEndpoint))
  if (!url) return null
  const sampler = (p.otelTracesSampler || 'parentbased_always_on') as SamplerName
  let ratio = 1
  if (p.otelTracesSamplerArg !== '' && sampler.endsWith('traceidratio')) {
    ratio = Number(p.otelTracesSamplerArg)
    if (!Number.isFinite(ratio) || ratio < 0 || ratio > 1) throw new Error('OTEL_TRACES_SAMPLER_ARG must be a number from 0 to 1')
  }
  const headers = [p.otlpHeaders, p.otlpTracesHeaders].filter(Boolean).join(',')
  return Object.freeze({
    url,
    protocol: (p.otlpTracesProtocol || p.otlpProtocol || 'http/protobuf') as OtlpProtocol,
    headers,
    serviceName: p.otelServiceName || defaultServiceName,
    resourceAttributes: p.otelResourceAttributes,
    sampler,
    ratio,
  })
}

/** The specification's rule: the signal's path is appended to the base endpoint's path. */
function withTracesPath(base: string): string {
  const u = new URL(base)
  u.pathname = `${u.pathname.replace(/\/+$/, '')}/v1/traces`
  return u.toString()
}
