/**
 * Loads the tracing SDK (tracing-sdk.ts) when tracing is turned on. The delegate's build swaps
 * this file for one that carries the SDK as text and compiles it only when called
 * (scripts/build.ts): bundled as code, the SDK would cost every idle delegate memory.
 */
export function loadTracingSdk(): Promise<typeof import('./tracing-sdk.ts')> {
  return import('./tracing-sdk.ts')
}
