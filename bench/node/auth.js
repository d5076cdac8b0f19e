// The BFF's authentication, done the way bench/baseline_app.py does it: verify the EdDSA access
// token against the BFF's key ring, then read the live session and its user from PostgreSQL on
// every request.
import { createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { errors, jwtVerify } from 'jose';

import { config } from './config.js';
import { sessionUser } from './database.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const REQUIRED_CLAIMS = ['exp', 'iat', 'nbf', 'iss', 'aud', 'sub', 'jti', 'sid'];
const LEEWAY_S = 5;

function publicKeys(dataDir) {
  const ring = JSON.parse(readFileSync(join(dataDir, 'dev-jwt-keys.json'), 'utf8'));
  return new Map(ring.keys.map((entry) => [entry.kid, createPublicKey(entry.private_key_pem)]));
}

const keys = publicKeys(config.dataDir);

function keyFor(header) {
  const key = keys.get(header.kid);
  if (key === undefined) {
    throw new errors.JWKSNoMatchingKey();
  }
  return key;
}

/** The claims of a valid access token in an `Authorization: Bearer` header, or null. */
async function verifiedClaims(authorization) {
  const [scheme, token] = (authorization ?? '').split(' ', 2);
  if (scheme?.toLowerCase() !== 'bearer' || !token) {
    return null;
  }
  try {
    const { payload } = await jwtVerify(token, keyFor, {
      algorithms: ['EdDSA'],
      typ: 'at+jwt',
      issuer: config.issuer,
      audience: config.audience,
      requiredClaims: REQUIRED_CLAIMS,
      clockTolerance: LEEWAY_S,
    });
    return payload;
  } catch (error) {
    if (error instanceof errors.JOSEError) {
      return null;
    }
    throw error;
  }
}

/** The viewer behind a request's access token, `{ user, sessionId }` (`user` is the users
 * row), or null when the token is missing or invalid or its session has ended. */
export async function authenticate(authorization) {
  const claims = await verifiedClaims(authorization);
  if (claims === null || !UUID.test(claims.sub) || !UUID.test(claims.sid)) {
    return null;
  }
  const user = await sessionUser(claims.sid, claims.sub);
  return user === null ? null : { user, sessionId: claims.sid };
}
