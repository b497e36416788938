/**
 * pino `redact` paths: anything that could carry a credential is censored before it is written.
 * Shared by the manager and the delegate. Paths are exact (pino has no recursive wildcard), so
 * they cover the depths at which these names occur in our log calls: request headers, task specs
 * (`task.registry.password`), config objects and errors.
 */
const credentialKeys = ['password', 'token', 'value', 'secret', 'apiKey', 'secretsKey', 'secretsOldKey', 'authorization', 'cookie']

export const logRedaction = {
  paths: [
    'req.headers.authorization',
    'req.headers.cookie',
    'req.headers["proxy-authorization"]',
    'headers.authorization',
    'headers["proxy-authorization"]',
    '*.headers.authorization',
    '*.headers["proxy-authorization"]',
    '*.headers.cookie',
    ...credentialKeys.flatMap((key) => [key, `*.${key}`, `*.*.${key}`, `*.*.*.${key}`]),
  ],
  censor: '[redacted]',
}
