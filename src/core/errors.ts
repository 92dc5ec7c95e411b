/**
 * Every error CocoCat raises on purpose carries a stable code from this table.
 * `docs/errors.md` lists each code with its meaning and fix; a test keeps the two in sync.
 * A used code is never reused for another meaning.
 */
export const ErrorCodes = {
  COCO_ERR_CONFIG_INVALID: 'A workspace file failed validation.',
  COCO_ERR_CONFIG_PARSE: 'A workspace file is not valid YAML or JSON.',
  COCO_ERR_CONFIG_ENV_MISSING: 'A ${ENV} or ${secret:…} reference names a value that is not set.',
  COCO_ERR_ID_INVALID: 'An agent, scene or entry id does not match [a-z0-9][a-z0-9_-]{0,63}.',
  COCO_ERR_ID_CONFLICT: 'Two things share an id that must be unique.',
  COCO_ERR_NOT_FOUND: 'The agent, scene, entry or message does not exist.',
  COCO_ERR_CHANNEL_UNKNOWN: 'An entry names a channel type that is not registered.',
  COCO_ERR_CHANNEL_START: 'A channel could not start.',
  COCO_ERR_CHANNEL_START_TIMEOUT: 'A channel did not become ready in time.',
  COCO_ERR_CHANNEL_NOT_RUNNING: 'The entry exists but its channel is not running.',
  COCO_ERR_CHANNEL_SEND: 'A channel failed to deliver a reply.',
  COCO_ERR_LOGIN_FAILED: 'A QR-code login could not be started or ended without credentials.',
  COCO_ERR_LOGIN_REQUIRED: 'A channel has no credentials yet: its entry waits for a QR-code login.',
  COCO_ERR_AGENT_UNKNOWN: 'A profile names an agent provider that does not exist.',
  COCO_ERR_AGENT_FAILED: 'The agent failed after all retries; the fallback reply was sent.',
  COCO_ERR_AGENT_TIMEOUT: 'The agent did not answer within its timeout.',
  COCO_ERR_AGENT_CONTEXT: 'The model refused the request as longer than its context window, even with less history.',
  COCO_ERR_ROUTE_MISSING: 'A message targets an agent or scene that no longer exists.',
  COCO_ERR_MEDIA: 'Media a user sent (an image) could not be downloaded for the agent; it answered from the text.',
  COCO_ERR_QUOTE: 'The message a user quoted could not be read for the agent; it answered without it.',
  COCO_ERR_OUTBOX_EXPIRED: 'A reply was older than its max age before it could be delivered.',
  COCO_ERR_STORE: 'The store failed or holds data it cannot read.',
  COCO_ERR_REQUEST_INVALID: 'An HTTP request body or parameter is malformed.',
  COCO_ERR_REQUEST_TOO_LARGE: 'An HTTP request body is over the limit.',
  COCO_ERR_UNAUTHORIZED: 'The bearer token or API key is missing or wrong.',
  COCO_ERR_FORBIDDEN: 'The request is not allowed for who sent it: a panel write without its session\'s CSRF token, or a later reply for an agent that cannot sign one.',
  COCO_ERR_RATE_LIMITED: 'Too many requests for this key; retry after the given time.',
  COCO_ERR_INTERNAL: 'An unexpected error inside the gateway; the log has the details.',
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

export interface CocoErrorOptions {
  cause?: unknown;
  /** The channel type the error belongs to, when a channel raised it. */
  channel?: string;
  /** Where a config problem is: a file path and a dotted field path. */
  file?: string;
  field?: string;
  /** HTTP status to answer with when the error reaches the server boundary. */
  statusCode?: number;
  /** For rate limits and transient failures: when to try again. */
  retryAfterMs?: number;
  /** Whether retrying the same operation can succeed. */
  retryable?: boolean;
}

export class CocoError extends Error {
  readonly code: ErrorCode;
  readonly channel?: string;
  readonly file?: string;
  readonly field?: string;
  readonly statusCode?: number;
  readonly retryAfterMs?: number;
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, options: CocoErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CocoError';
    this.code = code;
    this.channel = options.channel;
    this.file = options.file;
    this.field = options.field;
    this.statusCode = options.statusCode;
    this.retryAfterMs = options.retryAfterMs;
    this.retryable = options.retryable ?? false;
  }
}

export function isCocoError(err: unknown, code?: ErrorCode): err is CocoError {
  return err instanceof CocoError && (code === undefined || err.code === code);
}

/** A short, log-safe description of any thrown value. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
