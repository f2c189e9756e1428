import { createSecretKey, type KeyObject } from "node:crypto";
import { GraphQLError } from "graphql";
import jwt from "jsonwebtoken";

export interface Viewer {
  userId: string;
  orgId: string;
}

export interface TokenSettings {
  secret: string;
  issuer: string;
  audience: string;
}

const ACCESS_TOKEN_SECONDS = 15 * 60;

/**
 * The bare server's access tokens: HS256 JWTs naming the user (sub) and its organization (org),
 * verified on each request as any server that takes bearer tokens would (algorithm pinned,
 * iss/aud/exp checked); no session, key rotation or principal lookup.
 */
export class BareTokens {
  /** A key object, as jsonwebtoken's docs allow: given a string it tries PEM parsing each time. */
  private readonly key: KeyObject;

  constructor(private readonly settings: TokenSettings) {
    this.key = createSecretKey(Buffer.from(settings.secret, "utf8"));
  }

  sign(userId: string, orgId: string): { accessToken: string; expiresIn: number } {
    const accessToken = jwt.sign({ org: orgId }, this.key, {
      algorithm: "HS256",
      expiresIn: ACCESS_TOKEN_SECONDS,
      issuer: this.settings.issuer,
      audience: this.settings.audience,
      subject: userId,
    });
    return { accessToken, expiresIn: ACCESS_TOKEN_SECONDS };
  }

  /** The user a bearer token names; undefined without one; a 401 for a bad one. */
  viewerOf(authorization: string | undefined): Viewer | undefined {
    if (authorization === undefined) return undefined;
    const token = authorization.startsWith("Bearer ") ? authorization.slice(7) : "";
    try {
      const claims = jwt.verify(token, this.key, {
        algorithms: ["HS256"],
        issuer: this.settings.issuer,
        audience: this.settings.audience,
      }) as jwt.JwtPayload;
      return { userId: claims.sub!, orgId: claims.org as string };
    } catch {
      throw new GraphQLError("Invalid token", {
        extensions: { code: "UNAUTHENTICATED", http: { status: 401 } },
      });
    }
  }
}
