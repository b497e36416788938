/**
 * Starts the OpenTelemetry SDK for one process: a tracer provider with a batch span processor and
 * an OTLP/HTTP exporter, the AsyncLocalStorage context manager and the W3C trace-context
 * propagator, all registered with `@opentelemetry/api`. Called from main.ts only when an endpoint
 * is set: the SDK is loaded here and nowhere else (load-tracing-sdk.ts), so a process without
 * tracing never evaluates it, and every span call in the code goes to the API's no-op.
 */
import { loadTracingSdk } from './load-tracing-sdk.ts'
import type { Sampler } from './tracing-sdk.ts'
import type { TracingConfig } from './tracing-config.ts'

export interface Tracing {
  /** Exports what is still buffered, then stops (SIGTERM: after the process's own close). */
  shutdown(): Promise<void>
}

/** Where SDK trouble goes (an unreachable collector): the process's logger. */
export interface DiagSink {
  warn(fields: object, message: string): void
}

/** Export at most this often, so a busy process sends a few requests a second, not one per span. */
const SCHEDULED_DELAY_MS = 1_000
/** Spans kept while the collector is slow or away; past it they are dropped, never memory. */
const MAX_QUEUE = 8_192

export async function startTracing(config: TracingConfig, identity: { version: string; instanceId: string }, sink: DiagSink): Promise<Tracing> {
  const sdk = await loadTracingSdk()
  const { context, diag, DiagLogLevel, propagation, trace } = sdk
  const { TracerProvider, BatchSpanProcessor, AlwaysOnSampler, AlwaysOffSampler, ParentBasedSampler, TraceIdRatioBasedSampler, W3CTraceContextPropagator, parseKeyPairsIntoRecord } = sdk

  // The SDK reports export failures through diag; only the kind of failure reaches the log (the
  // exporter's messages name the URL at most, never the headers).
  diag.setLogger(
    {
      error: (message) => sink.warn({ otel: message }, 'tracing: export trouble'),
      warn: (message) => sink.warn({ otel: message }, 'tracing: export trouble'),
      info: () => undefined,
      debug: () => undefined,
      verbose: () => undefined,
    },
    { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true },
  )

  const ratio = new TraceIdRatioBasedSampler(config.ratio)
  const samplers: Record<TracingConfig['sampler'], () => Sampler> = {
    always_on: () => new AlwaysOnSampler(),
    always_off: () => new AlwaysOffSampler(),
    traceidratio: () => ratio,
    parentbased_always_on: () => new ParentBasedSampler({ root: new AlwaysOnSampler() }),
    parentbased_always_off: () => new ParentBasedSampler({ root: new AlwaysOffSampler() }),
    parentbased_traceidratio: () => new ParentBasedSampler({ root: ratio }),
  }
  const Exporter = config.protocol === 'http/json' ? sdk.OtlpJsonExporter : sdk.OtlpProtobufExporter
  const exporter = new Exporter({ url: config.url, headers: parseKeyPairsIntoRecord(config.headers) })
  const provider = new TracerProvider({
    sampler: samplers[config.sampler](),
    resource: sdk.resourceFromAttributes({
      ...parseKeyPairsIntoRecord(config.resourceAttributes),
      'service.name': config.serviceName,
      'service.version': identity.version,
      'service.instance.id': identity.instanceId,
    }),
    spanProcessors: [new BatchSpanProcessor({ exporter, scheduledDelayMillis: SCHEDULED_DELAY_MS, maxQueueSize: MAX_QUEUE })],
  })
  const contextManager = new sdk.AsyncLocalStorageContextManager().enable()
  context.setGlobalContextManager(contextManager)
  propagation.setGlobalPropagator(new W3CTraceContextPropagator())
  trace.setGlobalTracerProvider(provider)

  let stopping: Promise<void> | null = null
  return {
    shutdown: () =>
      (stopping ??= provider.shutdown().finally(() => {
        trace.disable()
        propagation.disable()
        context.disable()
        diag.disable()
      })),
  }
}
