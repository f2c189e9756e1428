import { randomBytes, randomInt } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PASSWORD, uniqueEmail } from "../support/fixtures.js";
import { codesOf, dataOf, gql, type GraphQLResponse } from "../support/graphql.js";
import { redisTestUrl } from "../support/environment.js";
import { sharedTestServer, startServer, type TestServer } from "../support/server.js";

/*
 * Authentication attempts are limited per client address, and an account locks after consecutive
 * failed logIns. The same checks run with limits held in memory and in Redis (CI sets
 * REDIS_TEST_URL; a local Redis is the fallback), each server with its own key prefix.
 *
 * Each test speaks from addresses of its own (X-Forwarded-For, trusted on these servers), so the
 * per-address limit of one test never touches another.
 */

const ATTEMPTS_PER_MINUTE = 5;
const LOCKOUT_FAILURES = 5;
const LOCKOUT_SECONDS = 60; // tests that wait for the lock to end use a server of their own
const SHORT_LOCKOUT_SECONDS = 2; // long enough to observe the lock on a loaded machine
const REDIS_URL = redisTestUrl;

const LOG_IN = `mutation($e: String!, $p: String!) {
  logIn(email: $e, password: $p) { accessToken refreshToken }
}`;
const SIGN_UP = `mutation($input: SignUpInput!) { signUp(input: $input) { accessToken } }`;

const newAddress = () => `10.${randomInt(256)}.${randomInt(256)}.${randomInt(1, 255)}`;
const from = (address: string) => ({ headers: { "x-forwarded-for": address } });

/** A response body without its request ids (each request has its own, by design). */
const sameAnswer = (body: unknown): unknown =>
  JSON.parse(JSON.stringify(body).replace(/"requestId":"[^"]*"/g, '"requestId":"*"'));

function expectInvalidCredentials(res: GraphQLResponse) {
  expect(res.status).toBe(200);
  expect(res.body.data).toBeNull();
  expect(res.body.errors).toEqual([
    expect.objectContaining({
      message: "Invalid credentials",
      extensions: { code: "UNAUTHENTICATED", requestId: expect.any(String) },
    }),
  ]);
}

function expectRateLimited(res: GraphQLResponse) {
  expect(res.status).toBe(429);
  expect(codesOf(res)).toEqual(["RATE_LIMITED"]);
  const retryAfter = Number(res.headers.get("retry-after"));
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(60);
  // the same seconds for programs that read the body only, under one name for every limit
  expect(res.body.errors?.[0]?.extensions?.retryAfterSeconds).toBe(
    Number(res.headers.get("retry-after")),
  );
}

describe.each<[string, string | undefined]>([
  ["memory", undefined],
  ...(REDIS_URL ? [["Redis", REDIS_URL] as [string, string]] : []),
])("authentication limits held in %s", (_store, redisUrl) => {
  const prefix = `test:identity:${randomBytes(6).toString("hex")}:`;
  let server: TestServer;
  let url: string;

  const logIn = (email: string, password: string, address: string, at = url) =>
    gql(at, LOG_IN, { e: email, p: password }, from(address));

  async function newAccount(at = url): Promise<string> {
    const email = uniqueEmail("brute");
    const input = { organizationName: "Brute", displayName: "Target", email, password: PASSWORD };
    dataOf(await gql(at, SIGN_UP, { input }, from(newAddress())));
    return email;
  }

  const serverWith = (lockoutSeconds: number) =>
    startServer({
      AUTH_ATTEMPTS_PER_MINUTE: String(ATTEMPTS_PER_MINUTE),
      LOGIN_LOCKOUT_FAILURES: String(LOCKOUT_FAILURES),
      LOGIN_LOCKOUT_SECONDS: String(lockoutSeconds),
      TRUST_PROXY: "true",
      BATCH_LIMIT: "10",
      ...(redisUrl ? { REDIS_URL: redisUrl, REDIS_KEY_PREFIX: prefix } : {}),
    });

  beforeAll(async () => {
    server = await serverWith(LOCKOUT_SECONDS);
    url = server.url;
  });

  afterAll(async () => {
    const redis = server.app.services.redis;
    const keys = redis ? await redis.keys(`${prefix}*`) : [];
    if (keys.length > 0) await redis!.del(...keys);
    await server.close();
  });

  describe("per client address", () => {
    it("allows the limit a minute, then refuses with 429, Retry-After and RATE_LIMITED", async () => {
      const email = await newAccount();
      const attacker = newAddress();
      for (let i = 0; i < ATTEMPTS_PER_MINUTE - 1; i++) {
        expectInvalidCredentials(await logIn(uniqueEmail("guess"), "wrong password!", attacker));
      }
      // Within the limit, the right password works from this address.
      const session = dataOf(await logIn(email, PASSWORD, attacker)).logIn;
      expect(session.accessToken).toBeTruthy();
      // Past it, even the right password is refused, before any password work.
      const comparisons = server.app.services.passwords.comparisons;
      expectRateLimited(await logIn(email, PASSWORD, attacker));
      expect(server.app.services.passwords.comparisons).toBe(comparisons);
      // Another address is not affected.
      dataOf(await logIn(email, PASSWORD, newAddress()));
    });

    it("counts signUp, refreshSession and issueClientToken alike", async () => {
      const email = await newAccount();
      const address = newAddress();
      const { refreshToken } = dataOf(await logIn(email, PASSWORD, address)).logIn;
      const others = [
        () =>
          gql(
            url,
            SIGN_UP,
            {
              input: {
                organizationName: "x",
                displayName: "x",
                email: uniqueEmail("x"),
                password: PASSWORD,
              },
            },
            from(address),
          ),
        () =>
          gql(
            url,
            `mutation($t: String!) { refreshSession(refreshToken: $t) { accessToken } }`,
            { t: "rt_guess" },
            from(address),
          ),
        () =>
          gql(
            url,
            `mutation { issueClientToken(clientId: "cli_guess", clientSecret: "cs_guess") { accessToken } }`,
            {},
            from(address),
          ),
      ];
      for (const attempt of [...others, others[1]!]) expect((await attempt()).status).toBe(200);
      // Five attempts so far (logIn + four): the sixth of any kind is refused.
      for (const attempt of others) expectRateLimited(await attempt());
      expectRateLimited(
        await gql(
          url,
          `mutation($t: String!) { refreshSession(refreshToken: $t) { accessToken } }`,
          { t: refreshToken },
          from(address),
        ),
      );
      // The legitimate refresh still works from the user's own (other) address.
      const refreshed = await gql(
        url,
        `mutation($t: String!) { refreshSession(refreshToken: $t) { accessToken } }`,
        { t: refreshToken },
        from(newAddress()),
      );
      expect(dataOf(refreshed).refreshSession.accessToken).toBeTruthy();
    });

    it("counts createUser's 'already registered' answers, then refuses every createUser of the address", async () => {
      // An ADMIN learns whether an email has an account in any organization (emails are unique
      // because logIn takes only an email): as costly as signUp's answer, and no more.
      const address = newAddress();
      const admin = dataOf(
        await gql(
          url,
          SIGN_UP,
          {
            input: {
              organizationName: "Prober",
              displayName: "P",
              email: uniqueEmail("prober"),
              password: PASSWORD,
            },
          },
          from(newAddress()),
        ),
      ).signUp.accessToken as string;
      const taken = await newAccount(); // an account of another organization
      const createUser = (email: string) =>
        gql(
          url,
          `mutation($i: CreateUserInput!) { createUser(input: $i) { id } }`,
          { i: { displayName: "Probe", email, password: PASSWORD, role: "VIEWER" } },
          { token: admin, ...from(address) },
        );
      // a new email creates a user and counts nothing
      for (let i = 0; i < ATTEMPTS_PER_MINUTE + 1; i++) {
        expect(dataOf(await createUser(uniqueEmail("fresh"))).createUser).toHaveProperty("id");
      }
      for (let i = 0; i < ATTEMPTS_PER_MINUTE; i++) {
        const res = await createUser(taken);
        expect(codesOf(res)).toEqual(["BAD_USER_INPUT"]);
        expect(res.body.errors![0]!.message).toBe("input.email is already registered");
      }
      // past the limit, every createUser of the address is refused: a taken email and a new one alike
      expectRateLimited(await createUser(taken));
      expectRateLimited(await createUser(uniqueEmail("fresh")));
    });

    it("counts every operation of a batched request", async () => {
      const address = newAddress();
      const batch = Array.from({ length: ATTEMPTS_PER_MINUTE + 2 }, () => ({
        query: LOG_IN,
        variables: { e: uniqueEmail("batch"), p: "wrong password!" },
      }));
      const res = await fetch(`${url}/graphql`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-forwarded-for": address },
        body: JSON.stringify(batch),
      });
      const results = (await res.json()) as { errors: { extensions: { code: string } }[] }[];
      const codes = results.map((r) => r.errors[0]!.extensions.code).sort();
      expect(codes).toEqual([
        ...Array<string>(2).fill("RATE_LIMITED"),
        ...Array<string>(ATTEMPTS_PER_MINUTE).fill("UNAUTHENTICATED"),
      ]);
      expectRateLimited(await logIn(uniqueEmail("after"), "wrong password!", address));
    });
  });

  describe("per account", () => {
    it("locks after consecutive failed logIns: the right password fails alike, at the same cost", async () => {
      const email = await newAccount();
      const bystander = await newAccount();
      let wrong: GraphQLResponse | undefined;
      for (let i = 0; i < LOCKOUT_FAILURES; i++) {
        // A distributed attack: each guess from another address still counts against the account.
        wrong = await logIn(email, `wrong password ${i}`, newAddress());
        expectInvalidCredentials(wrong);
      }
      const comparisons = server.app.services.passwords.comparisons;
      const locked = await logIn(email, PASSWORD, newAddress());
      expect(server.app.services.passwords.comparisons).toBe(comparisons + 1);
      expectInvalidCredentials(locked);
      expect(sameAnswer(locked.body)).toEqual(sameAnswer(wrong!.body));
      // Other accounts are not affected.
      dataOf(await logIn(bystander, PASSWORD, newAddress()));
    });

    it("unlocks after the lockout window (and the right password works again)", async () => {
      const short = await serverWith(SHORT_LOCKOUT_SECONDS);
      try {
        const email = await newAccount(short.url);
        for (let i = 0; i < LOCKOUT_FAILURES; i++) {
          expectInvalidCredentials(await logIn(email, "wrong password!", newAddress(), short.url));
        }
        expectInvalidCredentials(await logIn(email, PASSWORD, newAddress(), short.url));
        const deadline = Date.now() + (SHORT_LOCKOUT_SECONDS + 10) * 1000;
        let res: Awaited<ReturnType<typeof logIn>>;
        do {
          await sleep(100);
          res = await logIn(email, PASSWORD, newAddress(), short.url);
        } while (res.body.errors && Date.now() < deadline);
        expect(dataOf(res).logIn.accessToken).toBeTruthy();
      } finally {
        await short.close();
      }
    });

    it("a successful logIn resets the count of failures", async () => {
      const email = await newAccount();
      const fail = async (times: number) => {
        for (let i = 0; i < times; i++) {
          expectInvalidCredentials(await logIn(email, "wrong password!", newAddress()));
        }
      };
      await fail(LOCKOUT_FAILURES - 1);
      dataOf(await logIn(email, PASSWORD, newAddress()));
      await fail(LOCKOUT_FAILURES - 1);
      dataOf(await logIn(email, PASSWORD, newAddress())); // 8 failures, never 5 in a row
      await fail(LOCKOUT_FAILURES);
      expectInvalidCredentials(await logIn(email, PASSWORD, newAddress()));
    });

    it("counts the failed logIns of a batch, so a batch cannot outrun the lock", async () => {
      const email = await newAccount();
      const batch = Array.from({ length: LOCKOUT_FAILURES }, (_, i) => ({
        query: LOG_IN,
        variables: { e: email, p: `wrong password ${i}` },
      }));
      const res = await fetch(`${url}/graphql`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-forwarded-for": newAddress() },
        body: JSON.stringify(batch),
      });
      expect(((await res.json()) as unknown[]).length).toBe(LOCKOUT_FAILURES);
      expectInvalidCredentials(await logIn(email, PASSWORD, newAddress()));
    });

    it("counts changePassword's check of the current password (a stolen token is no oracle)", async () => {
      const CHANGE = `mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) }`;
      const change = (token: string, current: string) =>
        gql(
          url,
          CHANGE,
          { c: current, n: "another good passphrase" },
          { token, ...from(newAddress()) },
        );
      const signIn = async (email: string) =>
        dataOf(await logIn(email, PASSWORD, newAddress())).logIn.accessToken as string;

      const victim = await newAccount();
      const stolen = await signIn(victim);
      for (let i = 0; i < LOCKOUT_FAILURES; i++) {
        expect(codesOf(await change(stolen, `guess number ${i}`))).toEqual(["BAD_USER_INPUT"]);
      }
      const right = await change(stolen, PASSWORD);
      expect(codesOf(right)).toEqual(["BAD_USER_INPUT"]);
      expectInvalidCredentials(await logIn(victim, PASSWORD, newAddress()));

      // The owner who mistypes a few times still changes the password.
      const owner = await newAccount();
      const token = await signIn(owner);
      for (let i = 0; i < LOCKOUT_FAILURES - 1; i++) {
        expect(codesOf(await change(token, `typo number ${i}`))).toEqual(["BAD_USER_INPUT"]);
      }
      expect(dataOf(await change(token, PASSWORD)).changePassword).toBe(true);
    });

    it("locks unknown emails exactly like known ones (no enumeration through the lock)", async () => {
      const unknown = uniqueEmail("nobody");
      const known = await newAccount();
      const responses = async (email: string) => {
        const bodies = [];
        for (let i = 0; i <= LOCKOUT_FAILURES; i++) {
          bodies.push((await logIn(email, "wrong password!", newAddress())).body);
        }
        return bodies;
      };
      expect(sameAnswer(await responses(unknown))).toEqual(sameAnswer(await responses(known)));
    });
  });

  if (redisUrl) {
    it("keeps its counters in Redis under its own key prefix", async () => {
      const keys = await server.app.services.redis!.keys(`${prefix}*`);
      expect(keys.some((k) => k.startsWith(`${prefix}auth-ip:`))).toBe(true);
      expect(keys.some((k) => k.startsWith(`${prefix}login-failures:`))).toBe(true);
      // A second server with the same prefix (another instance) sees the same counters...
      const twin = await startServer({
        AUTH_ATTEMPTS_PER_MINUTE: String(ATTEMPTS_PER_MINUTE),
        TRUST_PROXY: "true",
        REDIS_URL: redisUrl,
        REDIS_KEY_PREFIX: prefix,
      });
      const isolated = await startServer({
        AUTH_ATTEMPTS_PER_MINUTE: String(ATTEMPTS_PER_MINUTE),
        TRUST_PROXY: "true",
        REDIS_URL: redisUrl,
        REDIS_KEY_PREFIX: `${prefix}other:`,
      });
      try {
        const address = newAddress();
        for (let i = 0; i < ATTEMPTS_PER_MINUTE; i++) {
          expectInvalidCredentials(await logIn(uniqueEmail("shared"), "wrong password!", address));
        }
        const guess = { e: uniqueEmail("shared"), p: "wrong password!" };
        expectRateLimited(await gql(twin.url, LOG_IN, guess, from(address)));
        // ...and one with another prefix does not.
        expectInvalidCredentials(await gql(isolated.url, LOG_IN, guess, from(address)));
      } finally {
        const other = await isolated.app.services.redis!.keys(`${prefix}other:*`);
        if (other.length > 0) await isolated.app.services.redis!.del(...other);
        await twin.close();
        await isolated.close();
      }
    });
  }
});

describe("authentication limits while Redis is unreachable", () => {
  it("fall back to memory: logIn keeps working and the limits still hold", async () => {
    const server = await startServer({
      AUTH_ATTEMPTS_PER_MINUTE: "3",
      REDIS_URL: "redis://127.0.0.1:1", // nothing listens there
      REDIS_KEY_PREFIX: `test:identity:down:${randomBytes(4).toString("hex")}:`,
    });
    try {
      const email = uniqueEmail("redis-down");
      const input = { organizationName: "Down", displayName: "D", email, password: PASSWORD };
      dataOf(await gql(server.url, SIGN_UP, { input }));
      const login = () => gql(server.url, LOG_IN, { e: email, p: PASSWORD });
      expect(dataOf(await login()).logIn.accessToken).toBeTruthy();
      expect(dataOf(await login()).logIn.accessToken).toBeTruthy();
      expectRateLimited(await login());
    } finally {
      await server.close();
    }
  });
});

describe("no user enumeration through logIn", () => {
  it("an unknown email, a wrong password and a malformed email: same answer, same bcrypt work", async () => {
    const { url, app } = await sharedTestServer();
    const email = uniqueEmail("enum");
    const input = { organizationName: "Enum", displayName: "Known", email, password: PASSWORD };
    dataOf(await gql(url, SIGN_UP, { input }));
    const attempt = async (e: string, p: string) => {
      const before = app.services.passwords.comparisons;
      const res = await gql(url, LOG_IN, { e, p });
      return { res, comparisons: app.services.passwords.comparisons - before };
    };
    const known = await attempt(email, "wrong password!");
    const unknown = await attempt(uniqueEmail("nobody"), "wrong password!");
    const malformed = await attempt("not an email", "wrong password!");
    for (const { res, comparisons } of [known, unknown, malformed]) {
      expectInvalidCredentials(res);
      expect(sameAnswer(res.body)).toEqual(sameAnswer(known.res.body));
      expect(comparisons).toBe(1);
    }
    // And the right password still gets in.
    const right = await attempt(email, PASSWORD);
    expect(dataOf(right.res).logIn.accessToken).toBeTruthy();
    expect(right.comparisons).toBe(1);
  });
});
