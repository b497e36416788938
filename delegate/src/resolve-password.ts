/**
 * Delegate-side password references: a connector may say `env:NAME` or `file:/path` instead of
 * holding a secret, so the password lives only where the delegate runs (SPEC §7).
 *
 * A connector is written by whoever holds the manager's API key, not by the delegate's operator,
 * so a reference is resolved only when the operator allowed it in DELEGATE_PASSWORD_REFS
 * (`env:NAME`, `env:PREFIX*`, `file:/dir/*`); anything else fails INVALID_INPUT before a
 * variable or a file is touched. Whatever the patterns say, the delegate never hands out its own
 * settings (its token, the manager URL, proxy credentials), its token file, devices or /proc,
 * and reads at most 64 KiB of a regular file.
 */
import { constants } from 'node:fs'
import { open, realpath } from 'node:fs/promises'
import { posix } from 'node:path'
import type { RegistryTarget } from '../../protocol/src/index.ts'
import { RegistryError } from './registry/errors.ts'

export const DEFAULT_PASSWORD_REFS = 'env:REGISTRY_PASSWORD_*'
export const MAX_PASSWORD_FILE_BYTES = 64 * 1024

export type RefPattern = { kind: 'env'; name: string } | { kind: 'env-prefix'; prefix: string } | { kind: 'file-dir'; dir: string }

export interface PasswordRefPolicy {
  patterns: readonly RefPattern[]
  /** DELEGATE_PASSWORD_REFS as configured, quoted in refusals */
  spec: string
  /** what `env:` references resolve against */
  env: Readonly<Record<string, string | undefined>>
  /** files that are never a password, whatever the patterns (DELEGATE_TOKEN_FILE) */
  ownFiles: readonly string[]
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/
/** The delegate's own settings: never a registry password, even under `env:*`. */
const OWN_ENV = /^(DELEGATE_|MANAGER_)|(^|_)PROXY$/i
/** Pseudo-filesystems: reading them can hang, never end, or give out the process's own memory. */
const PSEUDO_DIRS = ['/proc/', '/sys/', '/dev/']

/** Parses DELEGATE_PASSWORD_REFS; throws naming the first pattern that is not one of the three forms. */
export function parsePasswordRefs(spec: string): RefPattern[] {
  if (spec.trim() === '') return []
  return spec.split(',').map((raw) => {
    const p = raw.trim()
    const bad = (why: string) => new Error(`DELEGATE_PASSWORD_REFS has ${JSON.stringify(p)}: ${why} (patterns are env:NAME, env:PREFIX* or file:/dir/*)`)
    if (p.startsWith('env:')) {
      const name = p.slice(4)
      const star = name.endsWith('*')
      const stem = star ? name.slice(0, -1) : name
      if (star && stem === '') return { kind: 'env-prefix', prefix: '' }
      if (!ENV_NAME.test(stem)) throw bad('not a variable name')
      return star ? { kind: 'env-prefix', prefix: stem } : { kind: 'env', name: stem }
    }
    if (p.startsWith('file:')) {
      const path = p.slice(5)
      if (!path.endsWith('/*')) throw bad('a file pattern names a directory, ending in /*')
      const dir = path.slice(0, -1)
      if (!isPlainAbsolute(dir.slice(0, -1)) || dir === '/') throw bad('the directory must be an absolute path without . or .. or //, and not /')
      if (PSEUDO_DIRS.some((d) => dir.startsWith(d))) throw bad('/proc, /sys and /dev are never password files')
      return { kind: 'file-dir', dir }
    }
    throw bad('unknown kind')
  })
}

/** The target with `password` in place of `passwordRef`; INVALID_INPUT when it may not or cannot be resolved. */
export async function resolvePassword(target: RegistryTarget, policy: PasswordRefPolicy, signal: AbortSignal): Promise<RegistryTarget> {
  const ref = target.passwordRef
  if (ref === undefined) return target
  signal.throwIfAborted()
  const { passwordRef: _ref, ...rest } = target
  if (!allowed(ref, policy.patterns)) {
    throw inputError(
      `password reference ${quote(ref)} is not allowed on this delegate (DELEGATE_PASSWORD_REFS=${policy.spec || '(none)'}): ` +
        'use a reference that matches, or ask the delegate operator to add a pattern to DELEGATE_PASSWORD_REFS',
    )
  }
  if (ref.startsWith('env:')) {
    const name = ref.slice(4)
    if (OWN_ENV.test(name)) throw inputError(`password reference env:${name} names one of the delegate's own settings, which are never sent to a registry`)
    const value = policy.env[name]
    if (value === undefined || value === '') {
      throw inputError(`password reference env:${name} is not set on this delegate; set ${name} in its environment`)
    }
    return { ...rest, password: value }
  }
  return { ...rest, password: await readPasswordFile(ref.slice(5), policy, signal) }
}

function allowed(ref: string, patterns: readonly RefPattern[]): boolean {
  if (ref.startsWith('env:')) {
    const name = ref.slice(4)
    if (!ENV_NAME.test(name)) return false
    return patterns.some((p) => (p.kind === 'env' ? p.name === name : p.kind === 'env-prefix' && name.startsWith(p.prefix)))
  }
  if (ref.startsWith('file:')) {
    const path = ref.slice(5)
    if (!isPlainAbsolute(path)) return false
    return patterns.some((p) => p.kind === 'file-dir' && path.startsWith(p.dir) && !path.slice(p.dir.length).includes('/'))
  }
  return false
}

/** `/a/b`: absolute, no empty, `.` or `..` segment, no NUL, nothing to normalise away. */
function isPlainAbsolute(path: string): boolean {
  return path.startsWith('/') && path.length > 1 && !path.includes('\0') && posix.normalize(path) === path && !path.split('/').slice(1).some((s) => s === '' || s === '.' || s === '..')
}

async function readPasswordFile(path: string, policy: PasswordRefPolicy, signal: AbortSignal): Promise<string> {
  const cannot = (why: string) => inputError(`password reference file:${path} cannot be used on this delegate (${why})`)
  let real: string
  try {
    real = await realpath(path)
  } catch (e) {
    throw cannot(`${(e as NodeJS.ErrnoException).code ?? 'error'}; mount the file`)
  }
  if (PSEUDO_DIRS.some((d) => real.startsWith(d))) throw cannot(`it leads to ${real}, and /proc, /sys and /dev are never password files`)
  for (const own of policy.ownFiles) {
    const ownReal = await realpath(own).catch(() => own)
    if (real === ownReal) throw cannot("it is the delegate's own token file")
  }
  signal.throwIfAborted()
  // O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused just below)
  const file = await open(real, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY).catch((e: NodeJS.ErrnoException) => {
    throw cannot(`${e.code ?? 'error'}; mount the file`)
  })
  try {
    if (!(await file.stat()).isFile()) throw cannot('not a regular file')
    const buf = Buffer.alloc(MAX_PASSWORD_FILE_BYTES + 1)
    let size = 0
    while (size < buf.length) {
      signal.throwIfAborted()
      const { bytesRead } = await file.read(buf, size, buf.length - size, size)
      if (bytesRead === 0) break
      size += bytesRead
    }
    if (size > MAX_PASSWORD_FILE_BYTES) throw cannot('larger than 64 KiB, which no password is')
    return buf.toString('utf8', 0, size).replace(/\r?\n$/, '')
  } finally {
    await file.close()
  }
}

function quote(ref: string): string {
  return JSON.stringify(ref.length > 200 ? `${ref.slice(0, 200)}…` : ref)
}

function inputError(message: string): RegistryError {
  return new RegistryError('INVALID_INPUT', message)
}
