export * from './messages.ts'
export * from './errors.ts'
export { decodeDelegateMessage, decodeManagerMessage, MAX_FRAME_BYTES } from './decode.ts'
export * from './error-codes.ts'
