/**
 * The manager's view of a connector URL: refuse what cannot be right before queueing anything,
 * and name the registry host that "cannot reach" marks are kept for (SPEC §4.5).
 */
import { ApiError } from './api-error.ts'

const DOCKER_HUB = new Set(['docker.io', 'index.docker.io', 'registry.hub.docker.com', 'registry-1.docker.io'])

export function registryHostOf(url: string): string {
  const u = parse(url)
  if (!u) return url.trim().toLowerCase()
  const host = u.hostname.toLowerCase()
  if (DOCKER_HUB.has(host)) return 'registry-1.docker.io'
  return u.port ? `${host}:${u.port}` : host
}

export function checkConnectorUrl(url: string): void {
  const u = parse(url)
  if (!u || !u.hostname) {
    throw new ApiError(400, 'INVALID_INPUT', `body/url ${JSON.stringify(redactUrl(url))} is not a registry URL; use e.g. registry.example.com or https://registry.example.com:5000`)
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new ApiError(400, 'INVALID_INPUT', `body/url must use http or https, not ${u.protocol.slice(0, -1)}`)
  }
}

function parse(url: string): URL | null {
  const trimmed = url.trim()
  try {
    return new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed) ? trimmed : `https://${trimmed}`)
  } catch {
    return null
  }
}

function redactUrl(url: string): string {
  return url.replace(/\/\/[^/@]*@/, '//***@')
}
