/** JSON schemas of the REST API (SPEC §3): validation and the OpenAPI document come from these. */
import { LIMITS, TASK_ERROR_CODES, TASK_TYPES } from '../../protocol/src/index.ts'
import { API_ERROR_CODES } from './api-error-codes.ts'
import { TASK_STATUSES } from './tasks.ts'

const id = { type: 'string', minLength: 1, maxLength: 128 } as const
const name = { type: 'string', minLength: 1, maxLength: 200, pattern: '\\S' } as const
const selector = { type: 'string', minLength: 1, maxLength: 253, pattern: '\\S' } as const
const selectors = { type: 'array', items: selector, maxItems: 64 } as const
const project = { type: 'string', minLength: 1, maxLength: 200, pattern: '\\S' } as const

/** A connector validated on a schedule (SPEC §8); absent: no schedule. */
const healthCheck = {
  type: 'object',
  required: ['intervalSeconds'],
  additionalProperties: false,
  properties: { intervalSeconds: { type: 'integer', minimum: 30, maximum: 86_400 } },
} as const

export const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id },
  additionalProperties: false,
} as const

export const connectorBody = {
  type: 'object',
  required: ['name', 'type', 'url'],
  additionalProperties: false,
  properties: {
    name,
    type: { type: 'string', enum: ['docker-registry'] },
    url: { type: 'string', minLength: 1, maxLength: 2048 },
    username: { type: 'string', minLength: 1, maxLength: 512 },
    passwordSecretId: id,
    passwordRef: { type: 'string', minLength: 5, maxLength: LIMITS.passwordRef, pattern: '^(env:[A-Za-z_][A-Za-z0-9_]*|file:/.+)$' },
    delegateSelectors: selectors,
    project,
    healthCheck,
  },
} as const

/** POST /delegates/eligible: a saved connector, or the URL and selectors of one not saved yet. */
export const eligibleBody = {
  type: 'object',
  additionalProperties: false,
  properties: {
    connectorId: id,
    url: { type: 'string', minLength: 1, maxLength: 2048 },
    /** with connectorId: the task's selectors; with url: the connector's */
    delegateSelectors: selectors,
    /** with url: the task's own selectors */
    taskSelectors: selectors,
    probe: { type: 'boolean' },
  },
} as const

export const secretBody = {
  type: 'object',
  required: ['name', 'value'],
  additionalProperties: false,
  properties: { name, value: { type: 'string', minLength: 1, maxLength: LIMITS.password }, project },
} as const

export const tokenBody = {
  type: 'object',
  required: ['name'],
  additionalProperties: false,
  properties: {
    name,
    // as a delegate's hello carries it (DELEGATE_NAME)
    delegateName: { type: 'string', minLength: 1, maxLength: LIMITS.name, pattern: '\\S' },
  },
} as const

export const taskBody = {
  type: 'object',
  required: ['type', 'connectorId'],
  additionalProperties: false,
  properties: {
    type: { type: 'string', enum: TASK_TYPES },
    connectorId: id,
    image: { type: 'string', minLength: 1, maxLength: LIMITS.image },
    delegateSelectors: selectors,
    timeoutMs: { type: 'integer', minimum: 100, maximum: 3_600_000 },
  },
} as const

export const taskGetQuery = {
  type: 'object',
  additionalProperties: false,
  properties: { waitMs: { type: 'integer', minimum: 0, maximum: 300_000 } },
} as const

export const taskListQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    connectorId: id,
    status: { type: 'string', enum: TASK_STATUSES },
    limit: { type: 'integer', minimum: 1, maximum: 500, default: 50 },
  },
} as const

export const tagsQuery = {
  type: 'object',
  required: ['image'],
  additionalProperties: false,
  properties: {
    image: { type: 'string', minLength: 1, maxLength: LIMITS.image },
    timeoutMs: { type: 'integer', minimum: 100, maximum: 3_600_000 },
  },
} as const

export const runQuery = {
  type: 'object',
  additionalProperties: false,
  properties: { timeoutMs: { type: 'integer', minimum: 100, maximum: 3_600_000 } },
} as const

const minutes = { type: 'integer', minimum: 5, maximum: 120, default: 60 } as const

export const statsQuery = {
  type: 'object',
  additionalProperties: false,
  properties: { minutes },
} as const

export const delegateStatsQuery = {
  type: 'object',
  additionalProperties: false,
  properties: { minutes, limit: { type: 'integer', minimum: 1, maximum: 200, default: 24 } },
} as const

/** Every error answer (documentation only; see app.ts). */
export const errorResponse = {
  description: "An error; `code` is stable (the API's own codes, or a failed task's on the routes that run one), `message` says what to do next",
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: { code: { type: 'string', enum: [...new Set([...API_ERROR_CODES, ...TASK_ERROR_CODES])] }, message: { type: 'string' } },
    },
  },
} as const
