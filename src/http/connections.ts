import type { Server } from "node:http";
import { clientAddressKey } from "../security/auth-limits.js";

/**
 * At most `perAddress` open sockets per client address (an IPv6 /64 counts as one address), so
 * that one client cannot take every socket MAX_CONNECTIONS allows and lock everyone else out: a
 * socket past the cap is closed as soon as it is accepted. Not installed behind a trusted proxy,
 * where every socket comes from the proxy and the cap is the proxy's to apply.
 */
export function limitConnectionsPerAddress(server: Server, perAddress: number): void {
  const open = new Map<string, number>();
  server.on("connection", (socket) => {
    const key = clientAddressKey(socket.remoteAddress ?? "");
    const count = (open.get(key) ?? 0) + 1;
    if (count > perAddress) {
      socket.destroy();
      return;
    }
    open.set(key, count);
    socket.once("close", () => {
      const left = open.get(key)! - 1;
      if (left > 0) open.set(key, left);
      else open.delete(key);
    });
  });
}
