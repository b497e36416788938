/**
 * Certificates for the registry tests, made fresh by the `openssl` CLI in a temporary folder:
 * a CA, a server certificate for 127.0.0.1/localhost signed by it (TLS), and a token-signing
 * certificate signed by it (distribution trusts token JWTs whose `x5c` chain ends in its
 * `rootcertbundle`).
 */
import { execFileSync } from 'node:child_process'
import { X509Certificate, createPrivateKey, sign } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface Pki {
  dir: string
  caFile: string
  caPem: string
  serverCertPem: string
  serverKeyPem: string
  signingCertPem: string
  signingKeyPem: string
  cleanup(): void
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] })
}

export function makePki(): Pki {
  const dir = mkdtempSync(join(tmpdir(), 'registry-pki-'))
  openssl(dir, [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=registry-delegates test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ])
  const leaf = (name: string, cn: string, ext: string): void => {
    writeFileSync(join(dir, `${name}.ext`), ext)
    openssl(dir, ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`])
    openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`])
  }
  leaf('server', '127.0.0.1', 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n')
  leaf('signing', 'token-signer', 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n')
  const read = (f: string): string => readFileSync(join(dir, f), 'utf8')
  return {
    dir,
    caFile: join(dir, 'ca.pem'),
    caPem: read('ca.pem'),
    serverCertPem: read('server.pem'),
    serverKeyPem: read('server.key'),
    signingCertPem: read('signing.pem'),
    signingKeyPem: read('signing.key'),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  }
}

export interface Access {
  type: string
  name: string
  actions: string[]
}

/** An RS256 JWT as distribution's token auth expects it: `x5c` = [signing cert, CA]. */
export function signRegistryToken(pki: Pki, claims: { issuer: string; audience: string; subject: string; access: Access[]; ttlS: number }): string {
  const der = (pem: string): string => new X509Certificate(pem).raw.toString('base64')
  const header = { typ: 'JWT', alg: 'RS256', x5c: [der(pki.signingCertPem), der(pki.caPem)] }
  const now = Math.floor(Date.now() / 1000)
  const payload = {
    iss: claims.issuer,
    sub: claims.subject,
    aud: claims.audience,
    exp: now + claims.ttlS,
    nbf: now - 10,
    iat: now,
    jti: `${now}-${Math.random().toString(36).slice(2)}`,
    access: claims.access,
  }
  const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url')
  const input = `${b64(header)}.${b64(payload)}`
  const signature = sign('sha256', Buffer.from(input), createPrivateKey(pki.signingKeyPem)).toString('base64url')
  return `${input}.${signature}`
}
