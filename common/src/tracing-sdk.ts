/**
 * What startTracing() (tracing.ts) takes from OpenTelemetry, in one module that is loaded only
 * when tracing is on (load-tracing-sdk.ts). The API comes from here too: any copy of it reaches
 * the same global registrations, so the delegate's build may give this module a copy of its own.
 */
export { context, diag, DiagLogLevel, propagation, trace } from '@opentelemetry/api'
export { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
export { parseKeyPairsIntoRecord, W3CTraceContextPropagator } from '@opentelemetry/core'
export { OTLPTraceExporter as OtlpJsonExporter } from '@opentelemetry/exporter-trace-otlp-http'
export { OTLPTraceExporter as OtlpProtobufExporter } from '@opentelemetry/exporter-trace-otlp-proto'
export { resourceFromAttributes } from '@opentelemetry/resources'
export { AlwaysOffSampler, AlwaysOnSampler, BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler, TracerProvider, type Sampler } from '@opentelemetry/sdk-trace'
