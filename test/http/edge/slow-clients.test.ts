import { connect, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dataOf, gql } from "../../support/graphql.js";
import { startServer, type TestServer } from "../../support/server.js";

/*
 * Slow clients are cut off (BEHAVIOUR.md "Isolation"): a request whose headers and body have not
 * arrived within REQUEST_TIMEOUT_MS is answered 408 or closed, an idle keep-alive connection
 * closes after KEEP_ALIVE_TIMEOUT_MS, and at most MAX_CONNECTIONS sockets are open. Small
 * settings here; the defaults are in test/config.test.ts.
 */

let server: TestServer;
let port: number;
beforeAll(async () => {
  server = await startServer({
    REQUEST_TIMEOUT_MS: "1000",
    KEEP_ALIVE_TIMEOUT_MS: "300",
    MAX_CONNECTIONS: "6",
    MAX_CONNECTIONS_PER_ADDRESS: "4",
  });
  port = Number(new URL(server.url).port);
});
afterAll(async () => {
  await server.close();
});

interface RawSocket {
  socket: Socket;
  /** Everything the server sent so far. */
  received(): string;
  /** Resolves when the server has closed the connection. */
  closed: Promise<void>;
}

/** A raw connection to the server, from a loopback address of the test's choice. */
function open(localAddress = "127.0.0.1"): Promise<RawSocket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port, localAddress });
    let data = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => (data += chunk));
    const closed = new Promise<void>((done) => socket.on("close", () => done()));
    socket.on("error", () => undefined); // a reset by the server is one of the outcomes tested
    socket.once("connect", () => resolve({ socket, received: () => data, closed }));
    socket.once("error", reject);
  });
}

const within = <T>(promise: Promise<T>, ms: number) =>
  Promise.race([
    promise.then(() => "closed" as const),
    new Promise<"open">((resolve) => setTimeout(() => resolve("open"), ms)),
  ]);

const query = JSON.stringify({ query: "{ __typename }" });

describe("slow clients", () => {
  it("cuts off a body sent a byte at a time, while others are served", async () => {
    const slow = await open();
    slow.socket.write(
      `POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${query.length}\r\n\r\n`,
    );
    let sent = 0;
    const drip = setInterval(() => {
      if (sent < query.length - 1 && !slow.socket.destroyed) slow.socket.write(query[sent++]!);
    }, 200);
    try {
      expect(dataOf(await gql(server.url, "{ __typename }")).__typename).toBe("Query");
      // REQUEST_TIMEOUT_MS is 1 s; Node checks it every second
      expect(await within(slow.closed, 5_000)).toBe("closed");
    } finally {
      clearInterval(drip);
    }
    expect(slow.received()).toMatch(/^(HTTP\/1\.1 408|$)/);
    expect(sent).toBeLessThan(query.length - 1); // it was cut off before it could finish
  });

  it("closes a connection that never sends a request", async () => {
    const silent = await open();
    expect(await within(silent.closed, 5_000)).toBe("closed");
  });

  it("closes an idle keep-alive connection after a few seconds", async () => {
    const client = await open();
    client.socket.write(
      `POST /graphql HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\nContent-Type: application/json\r\nContent-Length: ${query.length}\r\n\r\n${query}`,
    );
    await expect.poll(() => client.received(), { timeout: 5_000 }).toMatch(/"Query"/);
    expect(await within(client.closed, 3_000)).toBe("closed");
  });

  it("holds at most MAX_CONNECTIONS_PER_ADDRESS sockets of one address; other addresses still connect", async () => {
    const held = await Promise.all(Array.from({ length: 4 }, () => open("127.0.0.2")));
    await new Promise((resolve) => setTimeout(resolve, 100));
    const fifth = await open("127.0.0.2");
    expect(await within(fifth.closed, 2_000)).toBe("closed");
    expect(fifth.received()).toBe("");
    const other = await open("127.0.0.3");
    const query = JSON.stringify({ query: "{ __typename }" });
    other.socket.write(
      `POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${query.length}\r\n\r\n${query}`,
    );
    await expect.poll(() => other.received(), { timeout: 5_000 }).toMatch(/"Query"/);
    for (const { socket } of [...held, other]) socket.destroy();
    await Promise.all([...held, other].map((h) => h.closed));
  });

  it("holds at most MAX_CONNECTIONS sockets, and serves again once they go", async () => {
    const held = await Promise.all(
      ["127.0.0.4", "127.0.0.4", "127.0.0.4", "127.0.0.5", "127.0.0.5", "127.0.0.5"].map(open),
    );
    // give the server a moment to accept them all, then one more is closed at once
    await new Promise((resolve) => setTimeout(resolve, 100));
    const extra = await open();
    expect(await within(extra.closed, 2_000)).toBe("closed");
    expect(extra.received()).toBe("");
    for (const { socket } of held) socket.destroy();
    await Promise.all(held.map((h) => h.closed));
    await expect
      .poll(async () => (await gql(server.url, "{ __typename }")).status, { timeout: 5_000 })
      .toBe(200);
  });
});
