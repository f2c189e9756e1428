import { createHash, createSecretKey, type KeyObject, randomBytes, randomUUID } from "node:crypto";
import jwt from "jsonwebtoken";
import { z } from "zod";

/** What a verified access token says; the principal is then loaded fresh from the database. */
export type AccessClaims = z.infer<typeof claimsSchema>;

export class InvalidTokenError extends Error {
  override name = "InvalidTokenError";
}

export interface TokenSettings {
  secret: string;
  previousSecrets: readonly string[];
  issuer: string;
  audience: string;
  accessTokenSeconds: number;
  clientTokenSeconds: number;
}

const ALGORITHM = "HS256";
const uuid = z.uuid();
// exp is required here because jsonwebtoken only checks it when present.
const common = { sub: uuid, org: uuid, jti: z.string().min(1), iat: z.number(), exp: z.number() };
const claimsSchema = z.discriminatedUnion("typ", [
  // sid: the refresh-session family, so ending the session also ends its access tokens.
  z.object({ typ: z.literal("user"), ...common, sid: uuid }),
  z.object({ typ: z.literal("client"), ...common, scope: z.string() }),
]);

const CLOCK_TOLERANCE_SECONDS = 5;
const VERIFIED_TOKENS_KEPT = 4_096;

/** A key id that names a secret without revealing anything about it. */
const keyIdOf = (secret: string) =>
  createHash("sha256").update(`kid:${secret}`).digest("base64url").slice(0, 16);

/**
 * Access tokens: HS256 JWTs, algorithm pinned on verify, iss/aud/exp enforced. The key id in the
 * header picks the current or a previous secret, so secrets rotate without logging anyone out.
 */
export class AccessTokens {
  /**
   * Key objects, not strings: given a string, jsonwebtoken first tries to parse it as a PEM
   * public key on every verify (and throws, and falls back), which cost about a tenth of the
   * server's CPU under load (npm run bench, docs/performance.md).
   */
  private readonly keys: Map<string, KeyObject>;
  private readonly currentKid: string;

  constructor(private readonly settings: TokenSettings) {
    this.currentKid = keyIdOf(settings.secret);
    this.keys = new Map(
      [settings.secret, ...settings.previousSecrets].map((s) => [
        keyIdOf(s),
        createSecretKey(Buffer.from(s, "utf8")),
      ]),
    );
  }

  signUser(userId: string, orgId: string, sessionId: string): { token: string; expiresIn: number } {
    const payload = { typ: "user", org: orgId, sid: sessionId };
    return this.sign(payload, userId, this.settings.accessTokenSeconds);
  }

  signClient(apiClientId: string, orgId: string, scopes: readonly string[]) {
    const payload = { typ: "client", org: orgId, scope: scopes.join(" ") };
    return this.sign(payload, apiClientId, this.settings.clientTokenSeconds);
  }

  private sign(payload: object, subject: string, expiresIn: number) {
    const token = jwt.sign(payload, this.keys.get(this.currentKid)!, {
      algorithm: ALGORITHM,
      expiresIn,
      issuer: this.settings.issuer,
      audience: this.settings.audience,
      subject,
      jwtid: randomUUID(),
      keyid: this.currentKid,
    });
    return { token, expiresIn };
  }

  /**
   * Tokens this process has verified, until they expire: a client sends the same token with
   * every request, and decoding, HMAC and claim checks cost 14.5 µs a time (0.05 µs kept),
   * about 1% of a signed-in { __typename }. Only a token that passed every check is kept, under
   * its exact text; the oldest goes first when it is full.
   */
  private readonly verified = new Map<string, AccessClaims>();

  /** Throws InvalidTokenError for anything but a well-formed, current, correctly signed token. */
  verify(token: string): AccessClaims {
    const known = this.verified.get(token);
    if (known && Date.now() < (known.exp + CLOCK_TOLERANCE_SECONDS) * 1000) return known;
    if (known) this.verified.delete(token); // expired: the full check below refuses it
    const claims = this.verifyFully(token);
    if (this.verified.size >= VERIFIED_TOKENS_KEPT) {
      this.verified.delete(this.verified.keys().next().value!);
    }
    this.verified.set(token, Object.freeze(claims));
    return claims;
  }

  private verifyFully(token: string): AccessClaims {
    const decoded = decodeUnverified(token);
    const kid = decoded?.header.kid;
    const secret = kid === undefined ? undefined : this.keys.get(kid);
    if (!secret || decoded?.header.alg !== ALGORITHM) throw new InvalidTokenError("unknown key");
    let payload: unknown;
    try {
      payload = jwt.verify(token, secret, {
        algorithms: [ALGORITHM],
        issuer: this.settings.issuer,
        audience: this.settings.audience,
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
      });
    } catch (error) {
      throw new InvalidTokenError((error as Error).message);
    }
    const claims = claimsSchema.safeParse(payload);
    if (!claims.success) throw new InvalidTokenError("unexpected claims");
    return claims.data;
  }
}

/** The header and payload without any check; null for anything that is not a JWS at all. */
function decodeUnverified(token: string): jwt.Jwt | null {
  try {
    return jwt.decode(token, { complete: true });
  } catch {
    return null; // a header saying typ JWT over a payload that is not JSON throws
  }
}

/** Opaque secrets (refresh tokens, client secrets): 256 random bits; only a SHA-256 is stored. */
export const newOpaqueSecret = (prefix: string): string =>
  `${prefix}_${randomBytes(32).toString("base64url")}`;

export const hashOpaqueSecret = (secret: string): string =>
  createHash("sha256").update(secret, "utf8").digest("base64url");
