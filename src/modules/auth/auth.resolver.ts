import { and, eq } from "drizzle-orm";
import { Arg, Ctx, Mutation, Resolver } from "type-graphql";
import type { Database } from "../../db/client.js";
import { uuidv7 } from "../../db/uuidv7.js";
import { organizations, type UserRow, users } from "../../db/schema.js";
import { tenantOf } from "../../graphql/tenant.js";
import type { Context } from "../../graphql/types.js";
import { badUserInput, forbidden, invalidCredentials } from "../../graphql/errors.js";
import {
  email as emailRule,
  parseInput,
  password as passwordRule,
} from "../../graphql/validation.js";
import { Role } from "../shared/enums.js";
import { emailTaken } from "../users/user.resolver.js";
import { EmailTakenError, findUserByEmail, insertUser } from "../users/users.repository.js";
import { countAuthAttempt, hashTurn } from "./attempts.js";
import { AuthPayload, SignUpInput, signUpInput } from "./auth.types.js";
import {
  endAllSessions,
  endSession,
  type IssuedRefreshToken,
  rotateSession,
  startSession,
} from "./sessions.js";

interface AuthResult {
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
  user: UserRow;
}

/**
 * Access token for the session (a new one unless a rotation has just issued its refresh token).
 * `db` is the operation's transaction: the caller has written already.
 */
async function issueSession(
  ctx: Context,
  db: Database,
  user: UserRow,
  rotated?: IssuedRefreshToken,
): Promise<AuthResult> {
  const { tokens, config } = ctx.services;
  const session = rotated ?? (await startSession(db, user, config.jwt.refreshTokenSeconds));
  const access = tokens.signUser(user.id, user.orgId, session.familyId);
  // AuthPayload.user is read as "self" by whoever called, though the caller is anonymous.
  ctx.authz.ownUserIds.add(user.id);
  return {
    accessToken: access.token,
    expiresIn: access.expiresIn,
    refreshToken: session.refreshToken,
    user,
  };
}

@Resolver()
export class AuthResolver {
  @Mutation(() => AuthPayload, {
    description: "Creates an organization and its first user (an ADMIN), and signs that user in.",
  })
  async signUp(
    @Arg("input", () => SignUpInput) rawInput: SignUpInput,
    @Ctx() ctx: Context,
  ): Promise<AuthResult> {
    await countAuthAttempt(ctx);
    const input = parseInput(signUpInput, rawInput, "input");
    const { cipher, blindIndex, passwords } = ctx.services;
    // The caller is anonymous: hashing takes the turn of its address (PasswordHasher).
    const passwordHash = await passwords.hash(input.password, hashTurn(ctx, ctx.ip));
    const db = await ctx.write();
    try {
      // a savepoint: an email already taken leaves no organization behind
      const user = await db.transaction(async (tx) => {
        const [org] = await tx
          .insert(organizations)
          .values({ id: uuidv7(), name: input.organizationName })
          .returning();
        return insertUser(
          tx,
          { cipher, blindIndex },
          {
            orgId: org!.id,
            displayName: input.displayName,
            email: input.email,
            role: Role.ADMIN,
            passwordHash,
          },
        );
      });
      const session = await issueSession(ctx, db, user);
      ctx.operation.audit?.organizationCreated({ kind: "user", orgId: user.orgId, id: user.id });
      return session;
    } catch (error) {
      if (error instanceof EmailTakenError) throw emailTaken("input.email");
      throw error;
    }
  }

  @Mutation(() => AuthPayload, {
    description: "Signs in. A wrong email or password, or a locked account, all fail alike.",
  })
  async logIn(
    @Arg("email", () => String) email: string,
    @Arg("password", () => String) password: string,
    @Ctx() ctx: Context,
  ): Promise<AuthResult> {
    await countAuthAttempt(ctx);
    const { blindIndex, passwords, authLimits } = ctx.services;
    // Malformed input fails like a wrong password; the bcrypt work is still done.
    const plausible = emailRule.safeParse(email).success && Buffer.byteLength(password) <= 1024;
    const emailIndex = plausible ? blindIndex.email(email) : undefined;
    // Keyed by the email's blind index, known or not: unknown emails lock alike (no enumeration),
    // and no address reaches the limiter's store in clear.
    const attempt = emailIndex ? await authLimits.beginLogin(emailIndex) : undefined;
    const user = plausible ? await findUserByEmail(ctx.db, blindIndex, email) : undefined;
    // the attempt is recorded in the account's organization, for its auditors (the caller sees
    // the same answer, known account or not)
    if (user) {
      ctx.operation.audit?.signInAttempted({ kind: "user", orgId: user.orgId, id: user.id }, false);
    }
    // A locked account costs the same bcrypt work, and fails the same way, as a wrong password.
    // Known or not, the email's work takes the turn of the caller's address.
    const ok = await passwords.verify(
      password.slice(0, 1024),
      user?.passwordHash,
      hashTurn(ctx, ctx.ip),
    );
    if (!ok || !user || !attempt || attempt.locked) {
      await attempt?.failed();
      throw invalidCredentials();
    }
    await attempt.succeeded();
    const rehashed = passwords.needsRehash(user.passwordHash)
      ? await passwords.hash(password, hashTurn(ctx, ctx.ip))
      : undefined;
    const db = await ctx.write();
    // Only while the password is still the one just verified, and with the user's row locked
    // until the session is committed: a changePassword that committed meanwhile makes this sign-in
    // fail, and one that comes after waits for it and then ends its session too.
    const [signedIn] = await db
      .update(users)
      .set({ lastLoginAt: new Date(), ...(rehashed && { passwordHash: rehashed }) })
      .where(and(eq(users.id, user.id), eq(users.passwordHash, user.passwordHash)))
      .returning();
    if (!signedIn) throw invalidCredentials();
    ctx.operation.audit?.signInAttempted({ kind: "user", orgId: user.orgId, id: user.id }, true);
    return issueSession(ctx, db, signedIn);
  }

  @Mutation(() => AuthPayload, {
    description:
      "Exchanges a refresh token for new tokens. Each refresh token works once; presenting a used one ends its whole session family.",
  })
  async refreshSession(
    @Arg("refreshToken", () => String) refreshToken: string,
    @Ctx() ctx: Context,
  ): Promise<AuthResult> {
    await countAuthAttempt(ctx);
    const db = await ctx.write();
    const outcome = await rotateSession(
      db,
      refreshToken,
      ctx.services.config.jwt.refreshTokenSeconds,
    );
    if (!outcome.ok) throw invalidCredentials();
    const [user] = await db
      .select()
      .from(users)
      .where(and(eq(users.id, outcome.session.userId), eq(users.orgId, outcome.session.orgId)));
    if (!user) throw invalidCredentials();
    return issueSession(ctx, db, user, outcome.issued);
  }

  @Mutation(() => Boolean, { description: "Ends the session family of the refresh token." })
  async logOut(@Arg("refreshToken", () => String) refreshToken: string, @Ctx() ctx: Context) {
    await endSession(await ctx.write(), refreshToken);
    return true;
  }

  @Mutation(() => Boolean, {
    description: "Changes the signed-in user's password and ends all of that user's sessions.",
  })
  async changePassword(
    @Arg("currentPassword", () => String) currentPassword: string,
    @Arg("newPassword", () => String) newPassword: string,
    @Ctx() ctx: Context,
  ): Promise<boolean> {
    const principal = tenantOf(ctx);
    if (principal.kind !== "user") throw forbidden();
    const next = parseInput(passwordRule, newPassword, "newPassword");
    // Checking the current password is an authentication attempt like logIn: otherwise a stolen
    // access token would be an unlimited password-guessing oracle. Same counters, same lock.
    await countAuthAttempt(ctx);
    const { passwords, authLimits } = ctx.services;
    const [user] = await ctx.db
      .select({ passwordHash: users.passwordHash, emailBidx: users.emailBidx })
      .from(users)
      .where(and(eq(users.id, principal.id), eq(users.orgId, principal.orgId)));
    const attempt = user ? await authLimits.beginLogin(user.emailBidx) : undefined;
    const ok = await passwords.verify(
      currentPassword.slice(0, 1024),
      user?.passwordHash,
      hashTurn(ctx, principal.orgId),
    );
    if (!ok || !user || !attempt || attempt.locked) {
      await attempt?.failed();
      throw badUserInput("currentPassword", "currentPassword is incorrect");
    }
    await attempt.succeeded();
    const passwordHash = await passwords.hash(next, hashTurn(ctx, principal.orgId));
    await (
      await ctx.write()
    ).transaction(async (tx) => {
      // Over the hash just verified only: of two concurrent changes from the same current
      // password, the second finds it replaced and fails as a wrong current password would.
      const changed = await tx
        .update(users)
        .set({ passwordHash, sessionsValidAfter: new Date() })
        .where(and(eq(users.id, principal.id), eq(users.passwordHash, user.passwordHash)))
        .returning({ id: users.id });
      if (changed.length === 0) {
        throw badUserInput("currentPassword", "currentPassword is incorrect");
      }
      await endAllSessions(tx, principal.id);
    });
    return true;
  }
}
