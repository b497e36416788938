/**
 * The manager's view of a connector URL, through the one normaliser both processes share (one
 * definition of what a registry URL means): refuse what cannot be right before queueing
 * anything, and name the registry host that "cannot reach" marks are kept for (SPEC §4.5).
 */
import { InvalidRegistryReference, normalizeRegistryUrl, type NormalizedRegistry } from '../../common/src/normalize-url.ts'
import { InvalidInputError } from './errors.ts'

export function registryHostOf(url: string): string {
  try {
    return new URL(normalizeRegistryUrl(url).origin).host
  } catch {
    return url.trim().toLowerCase()
  }
}

/** INVALID_INPUT naming the url field, with the normaliser's advice. */
export function checkConnectorUrl(url: string): NormalizedRegistry {
  try {
    return normalizeRegistryUrl(url)
  } catch (e) {
    if (e instanceof InvalidRegistryReference) throw new InvalidInputError('url', e.message, { cause: e })
    throw e
  }
}
