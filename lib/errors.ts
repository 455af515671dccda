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
  | 'ERR_FLWNET_INTERNAL';

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
