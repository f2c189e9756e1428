import { afterAll, describe, expect, it } from "vitest";
import { PASSWORD, uniqueEmail } from "../../support/fixtures.js";
import { type ServerProcess, spawnServer } from "../../support/server-process.js";

/*
 * The real process (src/main.ts) on an embedded database in a temporary directory: SIGTERM while
 * a request is in flight lets that request finish, then the process exits 0.
 */

let server: ServerProcess | undefined;

afterAll(() => server?.stop());

describe("graceful shutdown", () => {
  // Starting the real process on a fresh on-disk PGlite takes a while on a loaded machine.
  it("finishes the in-flight request on SIGTERM and exits 0", { timeout: 180_000 }, async () => {
    // A slow-ish request: signUp hashes the password at this cost (about a second).
    server = await spawnServer({ BCRYPT_ROUNDS: "14" });
    const { child: proc, port, lines, logged, exited, stderr } = server;

    const inFlight = fetch(`http://127.0.0.1:${port}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        query: `mutation($input: SignUpInput!) { signUp(input: $input) { accessToken } }`,
        variables: {
          input: {
            organizationName: "Shutdown Co",
            displayName: "Admin",
            email: uniqueEmail("shutdown"),
            password: PASSWORD,
          },
        },
      }),
    });
    await logged((l) => l.msg === "incoming request" && l.req?.path === "/graphql");
    proc.kill("SIGTERM");

    const res = await inFlight;
    expect(res.status).toBe(200);
    const body: any = await res.json();
    expect(body.errors).toBeUndefined();
    expect(body.data.signUp.accessToken).toEqual(expect.any(String));
    const code = await exited;
    expect(code, JSON.stringify(lines.slice(-4)) + stderr.join("")).toBe(0);
    expect(lines.some((l) => l.msg === "shutting down: finishing in-flight requests")).toBe(true);
    // The request completed before the process ended.
    const completedAt = lines.findIndex((l) => l.msg === "request completed");
    const shutdownAt = lines.findIndex((l) => l.signal === "SIGTERM");
    expect(completedAt).toBeGreaterThan(shutdownAt);
  });
});
