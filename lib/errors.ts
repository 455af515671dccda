/**
 * Every error flwnet throws or rejects with is a FlwnetError with a stable `code`.
 * Subclasses let callers branch with `instanceof`; `code` survives serialisation.
 */
export type FlwnetErrorCode =
  | 'ERR_FLWNET_INVALID_INPUT'
  | 'ERR_FLWNET_INVALID_OPTION'
  | 'ERR_FLWNET_WEIGHTS'
  | 'ERR_FLWNET_DEVICE'
  | 'ERR_FLWNET_OUT_OF_MEMORY'
  | 'ERR_FLWNET_ABORTED'
  | 'ERR_FLWNET_CLOSED'
  | 'ERR_FLWNET_INTERNAL'
  | 'ERR_FLWNET_TOO_LARGE'
  | 'ERR_FLWNET_UNSUPPORTED_MEDIA_TYPE'
  | 'ERR_FLWNET_BUSY'
  | 'ERR_FLWNET_TIMEOUT'
  | 'ERR_FLWNET_UNAUTHORIZED'
  | 'ERR_FLWNET_NOT_FOUND'
  | 'ERR_FLWNET_NOT_READY'
  | 'ERR_FLWNET_QUEUE'
  | 'ERR_FLWNET_IO';

/**
 * Every code's HTTP status and whether trying the same request again later can succeed: the one
 * table the HTTP service (status of the JSON error reply) and the queue workers (retry the job or
 * fail it at once) both read. `retryable` is about the same input: an unreadable image stays
 * unreadable, a full queue or a busy device does not stay full.
 */
export const ERROR_TABLE: Readonly<Record<FlwnetErrorCode, { status: number; retryable: boolean }>> = {
  ERR_FLWNET_INVALID_INPUT: { status: 415, retryable: false },
  ERR_FLWNET_INVALID_OPTION: { status: 400, retryable: false },
  ERR_FLWNET_WEIGHTS: { status: 500, retryable: false },
  ERR_FLWNET_DEVICE: { status: 503, retryable: true },
  ERR_FLWNET_OUT_OF_MEMORY: { status: 503, retryable: true },
  ERR_FLWNET_ABORTED: { status: 499, retryable: true },
  ERR_FLWNET_CLOSED: { status: 503, retryable: true },
  ERR_FLWNET_INTERNAL: { status: 500, retryable: false },
  ERR_FLWNET_TOO_LARGE: { status: 413, retryable: false },
  ERR_FLWNET_UNSUPPORTED_MEDIA_TYPE: { status: 415, retryable: false },
  ERR_FLWNET_BUSY: { status: 503, retryable: true },
  ERR_FLWNET_TIMEOUT: { status: 504, retryable: true },
  ERR_FLWNET_UNAUTHORIZED: { status: 401, retryable: false },
  ERR_FLWNET_NOT_FOUND: { status: 404, retryable: false },
  ERR_FLWNET_NOT_READY: { status: 503, retryable: true },
  ERR_FLWNET_QUEUE: { status: 503, retryable: true },
  ERR_FLWNET_IO: { status: 500, retryable: true },
};

/** The HTTP status for an error: its code's, or 500 for anything that is not a FlwnetError. */
export function httpStatusOf(err: unknown): number {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' && code in ERROR_TABLE ? ERROR_TABLE[code as FlwnetErrorCode].status : 500;
}

/** Whether the same work may succeed when tried again (false for errors that are not FlwnetErrors). */
export function isRetryable(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' && code in ERROR_TABLE ? ERROR_TABLE[code as FlwnetErrorCode].retryable : false;
}

export class FlwnetError extends Error {
  readonly code: FlwnetErrorCode;
  constructor(code: FlwnetErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** The input image or raw buffer cannot be used (empty, corrupt, wrong size, too large). */
export class InvalidInputError extends FlwnetError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_FLWNET_INVALID_INPUT', message, options);
  }
}

/** An option has the wrong type, an out-of-range or non-finite value, or is unknown. */
export class InvalidOptionError extends FlwnetError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_FLWNET_INVALID_OPTION', message, options);
  }
}

/** A weight file is missing, damaged, hostile or does not describe FLW-Net. */
export class WeightsError extends FlwnetError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_FLWNET_WEIGHTS', message, options);
  }
}

/** The requested device is unavailable, or a GPU call failed. */
export class DeviceError extends FlwnetError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_FLWNET_DEVICE', message, options);
  }
}

/** The operation was cancelled through an AbortSignal. */
export class AbortError extends FlwnetError {
  constructor(message = 'the operation was aborted', options?: { cause?: unknown }) {
    super('ERR_FLWNET_ABORTED', message, options);
  }
}

/** The Enhancer was closed. */
export class ClosedError extends FlwnetError {
  constructor(message = 'the enhancer is closed') {
    super('ERR_FLWNET_CLOSED', message);
  }
}

/** An input is over a size limit: the request body, or the image's pixel count. */
export class TooLargeError extends FlwnetError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_FLWNET_TOO_LARGE', message, options);
  }
}

/** The service cannot take more work now (its queue is full); try again after a while. */
export class BusyError extends FlwnetError {
  /** Seconds after which a retry is worthwhile. */
  readonly retryAfter: number;
  constructor(message: string, retryAfter = 1) {
    super('ERR_FLWNET_BUSY', message);
    this.retryAfter = retryAfter;
  }
}

/** The work took longer than its time limit and was cancelled. */
export class TimeoutError extends FlwnetError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_FLWNET_TIMEOUT', message, options);
  }
}

/** Reading or writing a file failed (shared storage away, disk full): may pass, so retryable. */
export class IoError extends FlwnetError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_FLWNET_IO', message, options);
  }
}

/** Turns an error thrown by the native addon (a plain Error with `code`) into its typed class. */
export function fromNativeError(err: unknown): FlwnetError {
  if (err instanceof FlwnetError) return err;
  const e = err as { code?: string; message?: string };
  const message = typeof e?.message === 'string' ? e.message : String(err);
  switch (e?.code) {
    case 'ERR_FLWNET_INVALID_INPUT':
      return new InvalidInputError(message, { cause: err });
    case 'ERR_FLWNET_ABORTED':
      return new AbortError(message, { cause: err });
    case 'ERR_FLWNET_DEVICE':
      return new DeviceError(message, { cause: err });
    case 'ERR_FLWNET_CLOSED':
      return new ClosedError(message);
    case 'ERR_FLWNET_OUT_OF_MEMORY':
      return new FlwnetError('ERR_FLWNET_OUT_OF_MEMORY', message, { cause: err });
    default:
      return new FlwnetError('ERR_FLWNET_INTERNAL', message, { cause: err });
  }
}
