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
