import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execFileSync } from 'node:child_process'
import { afterAll, describe, expect, it } from 'vitest'
import { parsePasswordRefs, resolvePassword, MAX_PASSWORD_FILE_BYTES, type PasswordRefPolicy } from '../src/resolve-password.ts'
import { RegistryError } from '../src/registry/errors.ts'

const dir = mkdtempSync(join(tmpdir(), 'pwrefs-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
writeFileSync(join(dir, 'registry'), 'file-secret\n')
writeFileSync(join(dir, 'big'), Buffer.alloc(10 * 1024 * 1024, 'a'))
writeFileSync(join(dir, 'token'), 'rdt_own-token\n')
symlinkSync('/proc/self/environ', join(dir, 'environ-link'))
symlinkSync('/dev/zero', join(dir, 'zero-link'))

const env = { REGISTRY_PASSWORD_A: 'env-secret', DELEGATE_TOKEN: 'rdt_own-token', HTTPS_PROXY: 'http://u:p@proxy', EXACT: 'exact-secret' }

function policy(spec: string, over: Partial<PasswordRefPolicy> = {}): PasswordRefPolicy {
  return { patterns: parsePasswordRefs(spec), spec, env, ownFiles: [join(dir, 'token')], ...over }
}

async function resolve(ref: string, p: PasswordRefPolicy, signal = new AbortController().signal) {
  return resolvePassword({ url: 'r.example.com', username: 'u', passwordRef: ref }, p, signal)
}

async function refusal(ref: string, p: PasswordRefPolicy): Promise<RegistryError> {
  const err = await resolve(ref, p).then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(RegistryError)
  expect((err as RegistryError).code).toBe('INVALID_INPUT')
  return err as RegistryError
}

describe('DELEGATE_PASSWORD_REFS patterns', () => {
  it('parses env:NAME, env:PREFIX* and file:/dir/*', () => {
    expect(parsePasswordRefs('env:REGISTRY_PASSWORD_*, env:EXACT ,file:/run/secrets/*')).toEqual([
      { kind: 'env-prefix', prefix: 'REGISTRY_PASSWORD_' },
      { kind: 'env', name: 'EXACT' },
      { kind: 'file-dir', dir: '/run/secrets/' },
    ])
    expect(parsePasswordRefs('')).toEqual([])
  })

  it.each([
    ['env:'],
    ['env:A*B'],
    ['env:1X'],
    ['file:relative/*'],
    ['file:/run/secrets/token'],
    ['file:/run/../etc/*'],
    ['file:/run//x/*'],
    ['file:/*/x'],
    ['vault:x'],
    ['env:X,,env:Y'],
    ['file:/dev/*'],
    ['file:/proc/self/*'],
    ['file:/sys/*'],
    ['file:/*'],
  ])('refuses the pattern %s, naming it', (spec) => {
    expect(() => parsePasswordRefs(spec)).toThrow(/DELEGATE_PASSWORD_REFS/)
  })
})

describe('resolvePassword', () => {
  it('resolves an allowed env reference, by prefix or exactly', async () => {
    expect((await resolve('env:REGISTRY_PASSWORD_A', policy('env:REGISTRY_PASSWORD_*'))).password).toBe('env-secret')
    expect((await resolve('env:EXACT', policy('env:EXACT'))).password).toBe('exact-secret')
  })

  it('refuses references outside the patterns before reading anything, naming the setting', async () => {
    const p = policy('env:REGISTRY_PASSWORD_*')
    for (const ref of ['env:DELEGATE_TOKEN', 'env:HTTPS_PROXY', 'env:EXACT', 'env:REGISTRY_PASSWORD', 'file:/proc/self/environ', 'file:/dev/zero']) {
      const err = await refusal(ref, p)
      expect(err.message).toContain('DELEGATE_PASSWORD_REFS')
      expect(err.message).not.toContain('rdt_own-token')
    }
  })

  it('never gives out the delegate token, its proxy settings or its own token file, whatever the patterns', async () => {
    const p = policy(`env:*,file:${dir}/*`)
    await refusal('env:DELEGATE_TOKEN', p)
    await refusal('env:HTTPS_PROXY', p)
    await refusal(`file:${dir}/token`, p)
    expect((await resolve('env:EXACT', p)).password).toBe('exact-secret')
  })

  it('reads an allowed file, dropping one trailing newline', async () => {
    expect((await resolve(`file:${dir}/registry`, policy(`file:${dir}/*`))).password).toBe('file-secret')
  })

  it('refuses paths that climb out of the allowed directory', async () => {
    const p = policy(`file:${dir}/*`)
    await refusal(`file:${dir}/../${dir.split('/').at(-1)}/registry`, p)
    await refusal(`file:${dir}/./registry`, p)
    await refusal(`file:${dir}//registry`, p)
    await refusal(`file:${dir}/sub/registry`, p)
  })

  it('reads at most 64 KiB of a file and says the file is too large', async () => {
    const err = await refusal(`file:${dir}/big`, policy(`file:${dir}/*`))
    expect(err.message).toMatch(/64 KiB/)
    expect(MAX_PASSWORD_FILE_BYTES).toBe(64 * 1024)
  })

  it('does not read devices, /proc or FIFOs, even through a link in an allowed directory (/dev/zero never hangs)', async () => {
    const started = Date.now()
    const p = policy(`file:${dir}/*`)
    expect((await refusal(`file:${dir}/zero-link`, p)).message).toMatch(/\/dev\/zero/)
    await refusal(`file:${dir}/environ-link`, p)
    execFileSync('mkfifo', [join(dir, 'fifo')])
    expect((await refusal(`file:${dir}/fifo`, p)).message).toMatch(/not a regular file/)
    expect(Date.now() - started).toBeLessThan(2_000)
  })

  it('stops at once when the task is aborted', async () => {
    const controller = new AbortController()
    controller.abort(new Error('task cancelled'))
    await expect(resolve(`file:${dir}/registry`, policy(`file:${dir}/*`), controller.signal)).rejects.toThrow(/cancelled/)
  })

  it('leaves a target without a reference alone', async () => {
    const target = { url: 'r', username: 'u', password: 'p' }
    expect(await resolvePassword(target, policy(''), new AbortController().signal)).toBe(target)
  })
})
