/*
 * Types that several layers share (resolvers, loaders, the operation pipeline, security). This
 * file holds types only, so importing it never pulls code in and never closes an import cycle.
 */
import type DataLoader from "dataloader";
import type { PrincipalCache } from "../security/principal-cache.js";
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import type { Config } from "../config.js";
import type { Database, DatabaseHandle } from "../db/client.js";
import type { DatabaseHealth } from "../db/health.js";
import type { CustomerRow, NoteRow, OrganizationRow, UserRow } from "../db/schema.js";
import type { OperationTransaction } from "../db/transaction.js";
import type { AuthLimits } from "../security/auth-limits.js";
import type { AuthzState } from "../security/authz/state.js";
import type { FairShare } from "../security/limits/fair-share.js";
import type { PasswordHasher } from "../security/passwords.js";
import type { BlindIndex, FieldCipher } from "../security/pii.js";
import type { Principal } from "../security/principal.js";
import type { AccessTokens } from "../security/tokens.js";
import type { Page } from "./pagination.js";

/** Long-lived parts of the server, built once by buildApp. */
export interface Services {
  config: Config;
  database: DatabaseHandle;
  /** Whether the database can be reached; its outages are logged once and answered 503. */
  databaseHealth: DatabaseHealth;
  cipher: FieldCipher;
  blindIndex: BlindIndex;
  passwords: PasswordHasher;
  tokens: AccessTokens;
  /** Brute-force limits on logIn, signUp, issueClientToken and refreshSession. */
  authLimits: AuthLimits;
  /** Concurrent operations per principal and per organization. */
  fairShare: FairShare;
  /** Connections of the pool per organization: one slot per statement or transaction. */
  poolShare: FairShare;
  /** Principals looked up, until the database announces a change to them. */
  principals: PrincipalCache;
  logger: Logger;
  /** Present when REDIS_URL is set: budgets and limits shared by every instance. */
  redis: Redis | undefined;
}

/**
 * Per-request batching: every object reached through a field (createdBy, author, customer,
 * notes) is loaded for the whole page in one statement, scoped to the caller's organization.
 */
export interface Loaders {
  organization: DataLoader<string, OrganizationRow | undefined>;
  user: DataLoader<string, UserRow | undefined>;
  customer: DataLoader<string, CustomerRow | undefined>;
  notesPage: DataLoader<{ customerId: string } & Page, NoteRow[], string>;
  noteCount: DataLoader<string, number>;
}

/** Cost points of one operation (BEHAVIOUR.md "Cost model"); null until known. */
export interface OperationCost {
  requested: number | null;
  actual: number | null;
}

/** What the field wrappers report to the operation's audit record. */
export interface FieldOutcomeRecorder {
  fieldResolved(field: string, error: unknown, result: unknown): void;
  /**
   * A sign-in (logIn, issueClientToken) named an existing account or API client: its event
   * goes to that organization (and, once authenticated, names it as the actor).
   */
  signInAttempted(
    account: { kind: "user" | "client"; orgId: string; id: string },
    authenticated: boolean,
  ): void;
  /** A signUp created this organization and its first user: its event goes there if it commits. */
  organizationCreated(account: { kind: "user"; orgId: string; id: string }): void;
}

/**
 * What changes while one operation runs. Apollo hands resolvers a shallow copy of the context,
 * so everything that changes lives in this one object, which the copy shares.
 */
export interface OperationState {
  /** Where the operation's statements run: the pool, or the mutation's transaction once open. */
  db: Database;
  /** A mutation's transaction (set when a mutation starts executing; opened by its first write). */
  transaction: OperationTransaction | undefined;
  /** The operation's audit record (set by the pipeline's record stage). */
  audit: FieldOutcomeRecorder | undefined;
  /** The operation's cost, filled by the analyse and execute stages; the audit log records it. */
  cost: OperationCost | undefined;
  /** When the operation's execution time is up (Date.now()), once it has started. */
  deadline: number | undefined;
}

/** One per GraphQL operation (each operation of a batched request has its own). */
export interface Context {
  readonly services: Services;
  readonly principal: Principal;
  readonly requestId: string;
  readonly ip: string;
  readonly userAgent: string | undefined;
  readonly loaders: Loaders;
  /** Per-operation authorization state (decisions made once, users returned to their owner). */
  readonly authz: AuthzState;
  readonly operation: OperationState;
  /** Where to read: the pool, or the mutation's transaction once it has written. */
  readonly db: Database;
  /**
   * The mutation's transaction, opened by the first call: every write goes through it, after
   * any password hashing or secret comparison (no connection is held while those run).
   */
  write(): Promise<Database>;
}
