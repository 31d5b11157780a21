import { mkdirSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/client";
import { StdioClientTransport } from "@modelcontextprotocol/client/stdio";
import { type Browser, chromium, type Frame, type Page } from "playwright-core";
import { build } from "rolldown";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SANDBOX_CREDENTIALS, type Sandbox, startSandbox } from "../src/sandbox/index.js";
import { isolatedEnv, SERVER, sandboxEnv } from "../test/harness.js";

// The views in a real browser: Debian's Chromium (scripts/ensure-chromium.mjs installs it) driven by
// playwright-core, a test host page built on ext-apps' AppBridge, and the built server behind the
// SDK's client over stdio, its upstreams the loopback sandbox (where writes are counted). Nothing
// leaves the machine: the "outside" origin is another loopback port.

const CHROMIUM = process.env.USERS_MCP_CHROMIUM ?? "/usr/bin/chromium";
const SHOTS = process.env.USERS_MCP_SCREENSHOTS ?? fileURLToPath(new URL("./screenshots/", import.meta.url));
const UI = { "io.modelcontextprotocol/ui": { mimeTypes: ["text/html;profile=mcp-app"] } };
const HOSTILE = "<img src=x onerror=alert(1)>";

type Result = {
  content: Array<{ type: string; text?: string }>;
  structuredContent?: Record<string, unknown>;
  isError?: boolean;
  _meta?: Record<string, unknown>;
};
type Csp = { connectDomains?: string[]; resourceDomains?: string[]; frameDomains?: string[]; baseUriDomains?: string[] };

let sandbox: Sandbox;
let client: Client;
let browser: Browser;
let page: Page;
let viewHtml: string;
let viewCsp: Csp;
const servers: Server[] = [];
let hostUrl: string;
let viewOrigin: string;
let outsideUrl: string;
let outsideHits = 0;
const dialogs: string[] = [];

/** A loopback HTTP server on a free port. */
async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** The CSP a host derives from the resource's `_meta.ui.csp`, as the MCP Apps spec maps it: nothing declared, nothing allowed. */
function hostCsp(csp: Csp): string {
  const list = (domains: string[] | undefined, none: string) => (domains?.length ? domains.join(" ") : none);
  const res = list(csp.resourceDomains, "");
  return [
    "default-src 'none'",
    `script-src 'unsafe-inline' ${res}`.trim(),
    `style-src 'unsafe-inline' ${res}`.trim(),
    `img-src data: ${res}`.trim(),
    `font-src data: ${res}`.trim(),
    `connect-src ${list(csp.connectDomains, "'none'")}`,
    `frame-src ${list(csp.frameDomains, "'none'")}`,
    `base-uri ${list(csp.baseUriDomains, "'self'")}`,
  ].join("; ");
}

async function hostPage(): Promise<string> {
  const out = await build({
    input: fileURLToPath(new URL("./host.ts", import.meta.url)),
    platform: "browser",
    write: false,
    logLevel: "warn",
    output: { format: "iife" },
  });
  const script = out.output[0].code.replace(/<\/(script)/gi, "<\\/$1");
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>test host</title><style>
body { margin: 0; padding: 16px; font-family: sans-serif; background: #f0efeb; }
body[data-theme="dark"] { background: #141413; }
#frame { width: 680px; }
iframe { width: 100%; height: 200px; border: 1px solid #d6d4cd; border-radius: 10px; display: block; background: transparent; }
body[data-theme="dark"] iframe { border-color: #3a3935; }
</style></head><body><div id="frame"></div><script>${script}</script></body></html>`;
}

async function call(name: string, args: Record<string, unknown> = {}): Promise<Result> {
  return (await client.callTool({ name, arguments: args })) as Result;
}
const tool = (name: string) => ({ name, inputSchema: { type: "object" as const } });
const puts = () => sandbox.requestsTo("leadping", "PUT").length;
const leadpingUser = () =>
  sandbox.state.leadping.userFor(SANDBOX_CREDENTIALS.leadpingToken) as { name: string; compliance: { acceptedSms: boolean } };

/** Shows `result` of `name` in the host page and waits until the view has drawn it; returns the view's frame. */
async function mount(
  name: string,
  args: Record<string, unknown>,
  result: Result,
  theme: "light" | "dark" = "light",
  path = "/view",
): Promise<Frame> {
  await page.evaluate((m) => window.mount(m), { viewUrl: `${viewOrigin}${path}`, tool: tool(name), args, result, theme });
  const frame = page.frame({ url: (u) => u.href.startsWith(viewOrigin) });
  if (!frame) throw new Error("the view's frame is not there");
  await frame.waitForSelector("section.card");
  return frame;
}

async function shot(name: string): Promise<void> {
  await page.waitForTimeout(100); // one more size-changed round from the view
  await page.locator("#view").screenshot({ path: `${SHOTS}/${name}.png` });
}

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  sandbox = await startSandbox();
  client = new Client({ name: "views-tests", version: "1.0.0" }, { capabilities: { extensions: UI } });
  await client.connect(
    new StdioClientTransport({
      command: process.execPath,
      args: [SERVER],
      env: { PATH: process.env.PATH ?? "", ...isolatedEnv(), ...sandboxEnv(sandbox) } as Record<string, string>,
      stderr: "ignore",
    }),
  );
  const { tools } = await client.listTools();
  const uri = (tools.find((t) => t.name === "update_compliance")?._meta?.ui as { resourceUri?: string } | undefined)?.resourceUri;
  expect(uri).toBe("ui://users-mcp/views.html");
  const read = await client.readResource({ uri: uri as string });
  const doc = read.contents[0] as { text: string; _meta?: { ui?: { csp?: Csp } } };
  viewHtml = doc.text;
  viewCsp = doc._meta?.ui?.csp ?? {};
  expect(viewCsp).toEqual({});

  const host = await hostPage();
  hostUrl = await serve((_req, res) => res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(host));
  viewOrigin = await serve((req, res) => {
    const headers: Record<string, string> = { "content-type": "text/html; charset=utf-8" };
    if (req.url === "/view") headers["content-security-policy"] = hostCsp(viewCsp);
    res.writeHead(200, headers).end(viewHtml);
  });
  outsideUrl = await serve((_req, res) => {
    outsideHits += 1;
    res.writeHead(200, { "access-control-allow-origin": "*" }).end("reached");
  });

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: process.getuid?.() === 0 ? ["--no-sandbox"] : [],
  });
  page = await browser.newPage({ viewport: { width: 720, height: 900 }, deviceScaleFactor: 2 });
  page.on("dialog", (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
  await page.exposeFunction("hostCall", (name: string, args: Record<string, unknown>) => call(name, args));
  await page.goto(hostUrl);
});

afterAll(async () => {
  await browser?.close();
  await client?.close();
  for (const s of servers) s.close();
  await sandbox?.close();
});

describe("the review view", () => {
  it("lists acceptedSms true → false, marked as a consent withdrawal, for the record it applies to", async () => {
    const args = { compliance: { acceptedSms: false } };
    const dry = await call("update_compliance", { ...args, dryRun: true });
    const frame = await mount("update_compliance", args, dry);
    const row = frame.locator('tr[data-field="acceptedSms"]');
    await expect.poll(() => row.locator("th").innerText()).toContain("SMS consent");
    expect(await row.locator(".badge").innerText()).toBe("Consent withdrawn");
    expect(await row.locator("td").nth(0).innerText()).toContain("Yes");
    expect(await row.locator("td").nth(1).innerText()).toContain("No");
    expect(await frame.locator(".record").innerText()).toContain("Avery Quinn");
    expect(await frame.locator(".record").innerText()).toContain("usr_01HZX3SANDBOX");
    expect(await frame.locator(".warnings").innerText()).toContain("withdraws consent");
    // Keyboard: Apply is reachable and named; the table has its headers.
    expect(await frame.locator("th[scope=col]").allInnerTexts()).toEqual(["Field", "Before", "After"]);
    await shot("review-light");
    await mount("update_compliance", args, dry, "dark");
    await shot("review-dark");
    expect(puts()).toBe(0);
  });

  it("Cancel writes nothing and tells the model so", async () => {
    const args = { compliance: { acceptedSms: false } };
    const frame = await mount("update_compliance", args, await call("update_compliance", { ...args, dryRun: true }));
    await frame.getByRole("button", { name: "Cancel" }).click();
    await expect.poll(() => frame.locator("[role=status]").first().innerText()).toContain("Nothing was written");
    expect(await frame.getByRole("button", { name: "Apply" }).isVisible()).toBe(false);
    await page.waitForTimeout(300);
    expect(puts()).toBe(0);
    expect(leadpingUser().compliance.acceptedSms).toBe(true);
    expect(JSON.stringify(await page.evaluate(() => window.seen.contexts))).toContain("cancelled");
  });

  it("Apply writes exactly once, with the preview's token, and shows the outcome and audit id", async () => {
    const args = { compliance: { acceptedSms: false } };
    const frame = await mount("update_compliance", args, await call("update_compliance", { ...args, dryRun: true }));
    const before = await page.evaluate(() => window.seen.calls.length);
    // Two clicks in a row: the second finds the button disabled.
    await frame.getByRole("button", { name: "Apply" }).dblclick({ force: true });
    await expect.poll(() => frame.locator("h1").innerText(), { timeout: 20_000 }).toContain("Applied");
    expect(puts()).toBe(1);
    expect(leadpingUser().compliance.acceptedSms).toBe(false);
    expect(await page.evaluate((n) => window.seen.calls.slice(n), before)).toEqual(["update_compliance"]);
    expect(await frame.locator(".fine code").innerText()).toMatch(/\S{8,}/);
  });
});

describe("the history view", () => {
  it("lists the write, and Undo previews the revert, reviews it and restores the record", async () => {
    const frame = await mount("list_writes", {}, await call("list_writes"));
    const row = frame.locator("tbody tr").first();
    expect(await row.innerText()).toContain("update_compliance");
    expect(await row.innerText()).toContain("SMS consent");
    expect(await row.locator(".badge").innerText()).toBe("applied");
    await shot("history-light");
    const dark = await mount("list_writes", {}, await call("list_writes"), "dark");
    await shot("history-dark");

    await dark
      .locator("tbody tr")
      .first()
      .getByRole("button", { name: /^Undo write/ })
      .click();
    await expect.poll(() => dark.locator("h1").innerText()).toContain("Review the undo");
    const revertRow = dark.locator('tr[data-field="acceptedSms"]');
    expect(await revertRow.locator("td").nth(0).innerText()).toContain("No");
    expect(await revertRow.locator("td").nth(1).innerText()).toContain("Yes");
    expect(puts()).toBe(1);
    await dark.getByRole("button", { name: "Apply" }).click();
    await expect.poll(() => dark.locator("h1").innerText(), { timeout: 20_000 }).toContain("Applied");
    expect(puts()).toBe(2);
    expect(leadpingUser().compliance.acceptedSms).toBe(true);

    await dark.getByRole("button", { name: "Back to the history" }).click();
    await expect.poll(() => dark.locator("tbody tr").first().innerText()).toContain("undo");
  });
});

describe("the record view", () => {
  it("shows the record as a card, and Edit only sends the model a message", async () => {
    const frame = await mount("get_current_user", {}, await call("get_current_user"));
    expect(await frame.locator("h1").innerText()).toBe("Avery Quinn");
    expect(await frame.locator(".group h2").allTextContents()).toEqual(["Compliance", "Notification preferences", "Details"]);
    expect(await frame.locator("dd .yes").count()).toBeGreaterThan(0);
    await shot("record-light");
    const dark = await mount("get_current_user", {}, await call("get_current_user"), "dark");
    await shot("record-dark");
    const writes = puts();
    await dark.getByRole("button", { name: "Ask to change this record" }).click();
    await expect.poll(() => page.evaluate(() => JSON.stringify(window.seen.messages))).toContain("Avery Quinn");
    expect(puts()).toBe(writes);
  });

  it("offers no Edit where the host takes no messages from a view", async () => {
    await page.evaluate((m) => window.mount(m), {
      viewUrl: `${viewOrigin}/view`,
      tool: tool("get_current_user"),
      args: {},
      result: await call("get_current_user"),
      theme: "light" as const,
      canMessage: false,
    });
    const frame = page.frame({ url: (u) => u.href.startsWith(viewOrigin) }) as Frame;
    await frame.waitForSelector("section.card");
    expect(await frame.getByRole("button").count()).toBe(0);
    expect(await frame.locator(".actions").innerText()).toContain("ask in the chat");
  });

  it("renders a hostile name as text and runs no script", async () => {
    const user = leadpingUser();
    const name = user.name;
    user.name = HOSTILE;
    try {
      const frame = await mount("get_current_user", {}, await call("get_current_user"));
      expect(await frame.locator("h1").innerText()).toBe(HOSTILE);
      const args = { compliance: { acceptedEmail: false } };
      const review = await mount("update_compliance", args, await call("update_compliance", { ...args, dryRun: true }));
      expect(await review.locator(".record strong").innerText()).toBe(HOSTILE);
      expect(await review.locator("img").count()).toBe(0);
      expect(await review.evaluate(() => document.querySelectorAll("img, [onerror]").length)).toBe(0);
      await page.waitForTimeout(200);
      expect(dialogs).toEqual([]);
    } finally {
      user.name = name;
    }
  });
});

describe("the document's isolation and the host's theme", () => {
  it("a fetch to an outside origin is blocked by CSP: the host's from the empty allowlist, and the document's own", async () => {
    for (const path of ["/view", "/view-bare"]) {
      const frame = await mount("get_current_user", {}, await call("get_current_user"), "light", path);
      const outcome = await frame.evaluate(async (url) => {
        const violations: string[] = [];
        document.addEventListener("securitypolicyviolation", (e) => violations.push(e.violatedDirective));
        const r = await fetch(url).then(
          (res) => `reached ${res.status}`,
          (err: Error) => `blocked: ${err.message}`,
        );
        await new Promise((done) => setTimeout(done, 50));
        return { r, violations };
      }, outsideUrl);
      expect(outcome.r, path).toMatch(/^blocked/);
      expect(outcome.violations, path).toContain("connect-src");
    }
    expect(outsideHits).toBe(0);
  });

  it("takes the dark theme and the style variables from the host context", async () => {
    const light = await mount("get_current_user", {}, await call("get_current_user"), "light");
    const bg = (f: Frame) => f.evaluate(() => getComputedStyle(document.body).backgroundColor);
    const lightBg = await bg(light);
    const dark = await mount("get_current_user", {}, await call("get_current_user"), "dark");
    expect(await dark.evaluate(() => document.documentElement.dataset.theme)).toBe("dark");
    const darkBg = await bg(dark);
    const luminance = (rgb: string) => (rgb.match(/\d+/g) ?? []).slice(0, 3).reduce((s, v) => s + Number(v), 0) / 3;
    expect(luminance(lightBg)).toBeGreaterThan(200);
    expect(luminance(darkBg)).toBeLessThan(60);

    await page.evaluate((m) => window.mount(m), {
      viewUrl: `${viewOrigin}/view`,
      tool: tool("get_current_user"),
      args: {},
      result: await call("get_current_user"),
      theme: "light" as const,
      styles: { "--color-background-primary": "rgb(1, 2, 3)" },
    });
    const styled = page.frame({ url: (u) => u.href.startsWith(viewOrigin) }) as Frame;
    await styled.waitForSelector("section.card");
    expect(await bg(styled)).toBe("rgb(1, 2, 3)");
  });
});
