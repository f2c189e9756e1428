import { Writable } from "node:stream";
import { DrizzleQueryError } from "drizzle-orm/errors";
import { PostgresError } from "postgres";
import { describe, expect, it } from "vitest";
import { uuidv7 } from "../../src/db/uuidv7.js";
import { users } from "../../src/db/schema.js";
import { createLogger } from "../../src/logger.js";
import { serializeError } from "../../src/log-serializers.js";
import { rowIdOf } from "../../src/graphql/ids.js";
import { createTenant, PASSWORD, uniqueEmail } from "../support/fixtures.js";
import { codesOf, gql } from "../support/graphql.js";
import { sharedTestServer, startSiblingServer, usingPostgres } from "../support/server.js";

/*
 * A failed SQL statement is logged by its shape and the database's code, never by its
 * parameters: those are bcrypt hashes, ciphertexts and blind indexes.
 */

const SECRET = "$2b$12$secretsecretsecretsecretsecretsecretsecretsecretsecret";

describe("the error serializer", () => {
  it("logs a failed Drizzle statement by its text and its cause's code, never its parameters", () => {
    const cause = new PostgresError({
      message: 'duplicate key value violates unique constraint "users_email_bidx_key"',
      code: "23505",
      severity: "ERROR",
      detail: `Key (email_bidx)=(${SECRET}) already exists.`,
      routine: "_bt_check_unique",
      table_name: "users",
      constraint_name: "users_email_bidx_key",
    });
    const error = new DrizzleQueryError(
      'insert into "users" ("password_hash") values ($1)',
      [SECRET],
      cause,
    );
    const logged = JSON.stringify(serializeError(error));
    expect(logged).not.toContain(SECRET);
    expect(JSON.parse(logged)).toEqual({
      type: "DrizzleQueryError",
      statement: 'insert into "users" ("password_hash") values ($1)',
      cause: {
        type: "PostgresError",
        code: "23505",
        severity: "ERROR",
        routine: "_bt_check_unique",
        table: "users",
        constraint: "users_email_bidx_key",
      },
    });
  });

  it("keeps the message of a database error that quotes no value, and of any other error", () => {
    const timeout = new PostgresError({
      message: "canceling statement due to statement timeout",
      code: "57014",
      severity: "ERROR",
    });
    expect(serializeError(timeout)).toMatchObject({
      code: "57014",
      message: "canceling statement due to statement timeout",
    });
    const bug = new TypeError("x is undefined");
    expect(serializeError(bug)).toMatchObject({ type: "TypeError", message: "x is undefined" });
    expect(serializeError(bug)!.stack).toContain("TypeError: x is undefined");
  });
});

// PostgreSQL only: the statement must wait for a lock held by a connection of the test's own.
it.skipIf(!usingPostgres())(
  "a statement that times out is logged without its parameters: no hash, ciphertext or blind index",
  async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString("utf8"));
        done();
      },
    });
    const server = await startSiblingServer(
      { STATEMENT_TIMEOUT_MS: "1000" },
      { logger: createLogger("info", sink) },
    );
    const shared = await sharedTestServer();
    try {
      const { members, orgId } = await createTenant(shared.url, "timeout");
      const email = uniqueEmail("held");
      const blindIndex = shared.app.services.blindIndex.email(email);
      // An uncommitted account with the same email: the insert of createUser waits on the
      // unique index until its statement timeout.
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      let inserted!: () => void;
      const holding = new Promise<void>((resolve) => (inserted = resolve));
      const holder = shared.app.services.database.db
        .transaction(async (tx) => {
          await tx.insert(users).values({
            id: uuidv7(),
            orgId: rowIdOf(orgId, "Organization")!,
            displayName: "Held",
            role: "VIEWER",
            emailEnc: "held",
            emailBidx: blindIndex,
            passwordHash: "held",
          });
          inserted();
          await released;
          tx.rollback();
        })
        .catch(() => undefined);
      await holding;
      const res = await gql(
        server.url,
        `mutation($i: CreateUserInput!) { createUser(input: $i) { id } }`,
        {
          i: {
            displayName: "Waits",
            email,
            password: PASSWORD,
            role: "VIEWER",
            phone: "+14155550199",
          },
        },
        { token: members.ADMIN.token },
      );
      release();
      await holder;
      expect(codesOf(res)).toEqual(["INTERNAL_SERVER_ERROR"]);
      const logged = lines.join("");
      expect(logged).toContain('"statement":"insert into \\"users\\"');
      expect(logged).toContain('"code":"57014"'); // the statement timeout, named by its code
      expect(logged).not.toContain("$2b$"); // the new user's bcrypt hash
      expect(logged).not.toContain(blindIndex);
      expect(logged).not.toMatch(/v1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{16,}/); // a ciphertext
      expect(logged).not.toContain("+14155550199");
    } finally {
      await server.close();
    }
  },
  30_000,
);
