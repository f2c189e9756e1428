/*
 * The flooding tenant of `npm run bench`'s noisy-neighbour line (bench/run.ts forks it; not run
 * on its own). In a process of its own, so that its load generators do not share an event loop
 * with the victim's, it floods the server at full speed in three ways at once:
 *   createUser  an ADMIN adding users (each hashes a password: bcrypt at the server's cost)
 *   free ops    a signed-in user of the same organization sending `{ __typename }`
 *   anonymous   `{ __typename }` without a token, from the same address
 */
import { randomBytes } from "node:crypto";
import autocannon from "autocannon";
import type { FloodReply, FloodRequest } from "./support/host-protocol.js";

const typename = JSON.stringify({ query: "{ __typename }" });
const run = randomBytes(4).toString("hex");
let created = 0;
const createUser = () =>
  JSON.stringify({
    query: `mutation($input: CreateUserInput!) { createUser(input: $input) { id } }`,
    variables: {
      input: {
        displayName: "Flood",
        email: `flood.${run}.${created++}@flood.bench.example`,
        password: "flood-password-2026",
        role: "VIEWER",
      },
    },
  });

function flood(request: FloodRequest, token: string | undefined, body: () => string) {
  return autocannon({
    url: request.url,
    method: "POST",
    connections: request.connections,
    duration: request.seconds,
    headers: {
      "content-type": "application/json",
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    requests: [{ method: "POST", setupRequest: (req) => ({ ...req, body: body() }) }],
  });
}

process.once("message", (request: FloodRequest) => {
  void (async () => {
    const names = ["createUser (ADMIN)", "{ __typename } (its user)", "{ __typename } (anonymous)"];
    const results = await Promise.all([
      flood(request, request.adminToken, createUser),
      flood(request, request.userToken, () => typename),
      flood(request, undefined, () => typename),
    ]);
    const floods = results.map((result, i) => ({
      name: names[i]!,
      statuses: Object.fromEntries(
        Object.entries(result.statusCodeStats ?? {}).map(([status, s]) => [status, s.count ?? 0]),
      ),
    }));
    process.send!({ type: "flooded", floods } satisfies FloodReply, () => process.exit(0));
  })();
});
