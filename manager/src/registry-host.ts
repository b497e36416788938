/**
 * The manager's view of a connector URL, through the one normaliser both processes share (one
 * definition of what a registry URL means): refuse what cannot be right before queueing
 * anything, and name the registry host that "cannot reach" marks are kept for (SPEC §4.5).
 */
import { InvalidRegistryReference, normalizeRegistryUrl, type NormalizedRegistry } from '../../common/src/normalize-url.ts'
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
    if (e instanceof InvalidRegistryReference) throw new ApiError(400, 'INVALID_INPUT', `body/url: ${e.message}`)
    throw e
  }
}
