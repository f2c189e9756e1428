import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrowserContext, chromium } from "playwright-core";
import { expect } from "vitest";
import { chromiumPath } from "./environment.js";

/*
 * A real browser (Debian's Chromium, headless) and the static sites its SPAs are served from:
 * CORS and CSRF prevention are enforced by the browser, so only a real one shows them at work.
 */

export interface StaticSite {
  server: Server;
  origin: string;
}

/** Serves one HTML page, whatever the path, from its own origin (a random port). */
export function staticSite(html: string): Promise<StaticSite> {
  const server = createServer((_request, response) => {
    response.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    response.end(html);
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo;
      resolve({ server, origin: `http://127.0.0.1:${port}` });
    });
  });
}

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

/** Headless Chromium with a throwaway profile; undefined on a machine without it. */
export async function launchBrowser(): Promise<Browser | undefined> {
  if (!chromiumPath) return undefined;
  const profile = mkdtempSync(join(tmpdir(), "edge-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Opens the page and waits until its #result says something other than "running". */
export async function resultOf(browser: Browser, url: string): Promise<string> {
  const page = await browser.context.newPage();
  try {
    await page.goto(url);
    const result = page.locator("#result");
    await expect.poll(() => result.textContent(), { timeout: 20_000 }).not.toBe("running");
    return (await result.textContent()) ?? "";
  } finally {
    await page.close();
  }
}
