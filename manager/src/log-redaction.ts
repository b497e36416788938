/** pino `redact` paths: anything that could carry a credential is censored before it is written. */
export const logRedaction = {
  paths: [
    'req.headers.authorization',
    'headers.authorization',
    '*.headers.authorization',
    'authorization',
    'password',
    '*.password',
    '*.*.password',
    'token',
    '*.token',
    'value',
    '*.value',
    'secret',
    '*.secret',
  ],
  censor: '[redacted]',
}
