// The registry client's public surface.
export { RegistryClient, type RegistryClientOptions, type RunOptions } from './client.ts'
export { RegistryError, REGISTRY_ERROR_CODES, type RegistryErrorCode } from './errors.ts'
export { normalizeRegistryUrl, normalizeRepository, type NormalizedRegistry } from './normalize-url.ts'
export { redactUrl } from './redact.ts'
