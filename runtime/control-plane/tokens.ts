/**
 * Bootstrap tokens minted by the control plane: `tsm1.<payload>.<mac>`, where the payload names
 * the identity and the expiry and the mac is HMAC-SHA256 under a key kept in the state folder.
 * Verification needs no lookup, and tokens survive a control-plane restart.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from './atomic-file.js';

export const TOKEN_PREFIX = 'tsm1.';
const DEFAULT_TTL_SECONDS = 7 * 24 * 3600;

export interface TokenClaims {
  namespace: string;
  serviceAccount: string;
  /** Seconds since the epoch. */
  exp: number;
}

export class TokenIssuer {
  private constructor(private readonly key: Buffer) {}

  /** Loads the key from `<stateDir>/token-key`, creating it (0600) on first use. */
  static async open(stateDir: string): Promise<TokenIssuer> {
    const path = join(stateDir, 'token-key');
    try {
      const hex = (await readFile(path, 'utf8')).trim();
      if (!/^[0-9a-f]{64}$/.test(hex)) throw new Error(`${path} is not a 32-byte hex key`);
      return new TokenIssuer(Buffer.from(hex, 'hex'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      const key = randomBytes(32);
      await writeFileAtomic(path, key.toString('hex'), 0o600);
      return new TokenIssuer(key);
    }
  }

  mint(
    identity: { namespace: string; serviceAccount: string },
    ttlSeconds = DEFAULT_TTL_SECONDS,
    now = Date.now(),
  ): {
    token: string;
    expiresAt: Date;
  } {
    const exp = Math.floor(now / 1000) + ttlSeconds;
    const claims: TokenClaims = {
      namespace: identity.namespace,
      serviceAccount: identity.serviceAccount,
      exp,
    };
    const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
    return { token: `${TOKEN_PREFIX}${payload}.${this.mac(payload)}`, expiresAt: new Date(exp * 1000) };
  }

  /** The identity a token is bound to; throws for a forged, malformed or expired token. */
  verify(token: string, now = Date.now()): TokenClaims {
    if (!token.startsWith(TOKEN_PREFIX)) throw new Error('not a tsmesh bootstrap token');
    const [payload, mac, ...rest] = token.slice(TOKEN_PREFIX.length).split('.');
    if (!payload || !mac || rest.length > 0) throw new Error('malformed bootstrap token');
    const expected = Buffer.from(this.mac(payload));
    const given = Buffer.from(mac);
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) {
      throw new Error('bootstrap token signature does not verify (minted by another control plane?)');
    }
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as TokenClaims;
    if (typeof claims.exp !== 'number' || claims.exp * 1000 <= now)
      throw new Error('bootstrap token expired');
    return claims;
  }

  private mac(payload: string): string {
    return createHmac('sha256', this.key).update(payload).digest('base64url');
  }
}
