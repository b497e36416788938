/**
 * The manager's view of a connector URL, through the delegate's own normaliser (one definition
 * of what a registry URL means): refuse what cannot be right before queueing anything, and name
 * the registry host that "cannot reach" marks are kept for (SPEC §4.5).
 */
import { RegistryError } from '../../delegate/src/registry/errors.ts'
import { normalizeRegistryUrl, type NormalizedRegistry } from '../../delegate/src/registry/normalize-url.ts'
import { ApiError } from './api-error.ts'

export function registryHostOf(url: string): string {
  try {
    return new URL(normalizeRegistryUrl(url).origin).host
  } catch {
    return url.trim().toLowerCase()
  }
}

/** 400 INVALID_INPUT naming body/url, with the normaliser's advice. */
export function checkConnectorUrl(url: string): NormalizedRegistry {
  try {
    return normalizeRegistryUrl(url)
  } catch (e) {
    if (e instanceof RegistryError) throw new ApiError(400, 'INVALID_INPUT', `body/url: ${e.message}`)
    throw e
  }
}
