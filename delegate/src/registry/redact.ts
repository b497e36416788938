/**
 * URLs as they may appear in messages and logs: no userinfo, and query values that look like
 * credentials (pre-signed redirects, `?token=`) replaced.
 */
const SECRET_PARAM = /token|sig|signature|secret|password|passwd|pwd|key|credential|auth|session|code/i

export function redactUrl(input: string | URL): string {
  let u: URL
  try {
    u = new URL(input)
  } catch {
    // Not a URL: strip anything that looks like userinfo before an @.
    return String(input).replace(/\/\/[^/@\s]*@/, '//')
  }
  u.username = ''
  u.password = ''
  for (const name of [...new Set(u.searchParams.keys())]) {
    if (SECRET_PARAM.test(name)) u.searchParams.set(name, 'REDACTED')
  }
  u.hash = ''
  return u.href
}
