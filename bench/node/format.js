// The BFF's wire formats, byte for byte: Relay global IDs, money as decimal strings with the
// currency's exponent, and timestamps as Python's datetime.isoformat() prints them.

const EXPONENTS = { JPY: 0, KRW: 0, BHD: 3, KWD: 3 };

/** base64url("<Type>:<uuid>") without padding, as schema/ids.py encodes it. */
export function globalId(typeName, rawId) {
  return Buffer.from(`${typeName}:${rawId}`).toString('base64url');
}

/** Minor units (a BIGINT's decimal string) as a decimal string such as "-12.34". */
export function formatAmount(minor, currency) {
  const exponent = EXPONENTS[currency] ?? 2;
  const value = BigInt(minor);
  const sign = value < 0n ? '-' : '';
  const digits = (value < 0n ? -value : value).toString().padStart(exponent + 1, '0');
  if (exponent === 0) {
    return `${sign}${digits}`;
  }
  return `${sign}${digits.slice(0, -exponent)}.${digits.slice(-exponent)}`;
}

// PostgreSQL's text for a timestamptz in UTC: "2025-01-31 09:05:01.1234+00".
const TIMESTAMP = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2})(?:\.(\d{1,6}))?\+00$/;

/** A UTC timestamp as Python's isoformat(): "2025-01-31T09:05:01.123400+00:00" (no fraction
 * when the microseconds are zero). */
export function isoformat(text) {
  const match = TIMESTAMP.exec(text);
  if (match === null) {
    throw new Error(`not a UTC timestamp: ${text}`);
  }
  const [, date, time, fraction] = match;
  return `${date}T${time}${fraction ? `.${fraction.padEnd(6, '0')}` : ''}+00:00`;
}
