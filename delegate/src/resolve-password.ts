/**
 * Delegate-side password references: a connector may say `env:NAME` or `file:/path` instead of
 * holding a secret, so the password lives only where the delegate runs.
 */
import { readFile } from 'node:fs/promises'
import type { RegistryTarget } from '../../protocol/src/index.ts'
import { RegistryError } from './registry/errors.ts'

export async function resolvePassword(target: RegistryTarget, env: Readonly<Record<string, string | undefined>>): Promise<RegistryTarget> {
  const ref = target.passwordRef
  if (ref === undefined) return target
  const { passwordRef: _ref, ...rest } = target
  if (ref.startsWith('env:')) {
    const name = ref.slice(4)
    const value = env[name]
    if (value === undefined || value === '') {
      throw inputError(`password reference env:${name} is not set on this delegate; set ${name} in its environment`)
    }
    return { ...rest, password: value }
  }
  if (ref.startsWith('file:')) {
    const path = ref.slice(5)
    try {
      return { ...rest, password: (await readFile(path, 'utf8')).replace(/\r?\n$/, '') }
    } catch (e) {
      throw inputError(`password reference file:${path} cannot be read on this delegate (${(e as NodeJS.ErrnoException).code ?? 'error'}); mount the file`)
    }
  }
  throw inputError('password reference must be env:NAME or file:/path')
}

function inputError(message: string): RegistryError {
  return new RegistryError('INVALID_INPUT', message)
}
