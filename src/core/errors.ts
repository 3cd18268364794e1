/**
 * Input the numeric core cannot work with (too few training points, a
 * dimension that does not fit the quantizer, a corrupt serialised codec, ...).
 * The message is written for the person who sent the data.
 */
export class QuantizerInputError extends RangeError {
  override name = 'QuantizerInputError';
}

export function checkInteger(name: string, value: number, min: number, max = Number.MAX_SAFE_INTEGER): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `in ${min}..${max}`;
    throw new QuantizerInputError(`${name} must be an integer ${range}, got ${value}`);
  }
}

/**
 * Serialised codec bytes that do not parse (bad magic, checksum, truncated).
 * Still a QuantizerInputError for callers that parse bytes they were given, but
 * the service reads codecs from its own store: there it is an internal failure,
 * never the client's (the HTTP layer answers 500, and it crosses a worker
 * boundary under its own name).
 */
export class CorruptCodecError extends QuantizerInputError {
  override name = 'CorruptCodecError';
}
