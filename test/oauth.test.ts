import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import type { OAuthClientProvider } from "@modelcontextprotocol/sdk/client/auth.js";
import { UnauthorizedError } from "@modelcontextprotocol/sdk/client/auth.js";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { OAuthClientInformationMixed, OAuthClientMetadata, OAuthTokens } from "@modelcontextprotocol/sdk/shared/auth.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Sandbox, startSandbox } from "../src/sandbox/index.js";
import { TOOL_CATALOG, TOOL_NAMES } from "../src/tools/catalog.js";
import { type Oidc, PERSON, PUBLIC_CLIENT, startOidc } from "./fixtures/oidc.js";
import { isolatedEnv, SERVER, sandboxEnv } from "./harness.js";
import { INIT, MCP_HEADERS, modernPost, type Remote, startHttp } from "./http-harness.js";

// The remote mode as an OAuth 2.1 protected resource, against a real OpenID provider (oidc-provider)
// on loopback that issues JWT access tokens for the resource.

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });

let oidc: Oidc;
let sandbox: Sandbox;
let remote: Remote;
let resource: string;
let audit: string;
let opaquePort: number;

beforeAll(async () => {
  const port = await freePort();
  opaquePort = await freePort();
  resource = `http://127.0.0.1:${port}/mcp`;
  [oidc, sandbox] = await Promise.all([startOidc(resource, [`http://127.0.0.1:${opaquePort}/mcp`]), startSandbox()]);
  audit = join(mkdtempSync(join(tmpdir(), "users-mcp-oauth-")), "audit.jsonl");
  remote = await startHttp(
    sandboxEnv(sandbox, {
      ...isolatedEnv(),
      USERS_MCP_OAUTH_ISSUER: oidc.issuer,
      USERS_MCP_PUBLIC_URL: `http://127.0.0.1:${port}`,
      USERS_MCP_AUDIT_LOG: audit,
    }),
    ["--port", String(port)],
  );
});
afterAll(async () => {
  await remote?.stop();
  await Promise.all([oidc?.close(), sandbox?.close()]);
});

const rpc = (body: unknown, token?: string) =>
  fetch(remote.url, {
    method: "POST",
    headers: { ...MCP_HEADERS, "mcp-protocol-version": "2025-11-25", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
const callTool = (name: string, args: Record<string, unknown>, token: string) =>
  rpc({ jsonrpc: "2.0", id: 2, method: "tools/call", params: { name, arguments: args } }, token);
const auditLines = () =>
  existsSync(audit)
    ? readFileSync(audit, "utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as Record<string, unknown>)
    : [];
const upstreamWrites = () => sandbox.requests.filter((r) => r.method === "PUT" || (r.method === "POST" && r.path !== "/Token")).length;

describe("OAuth 2.1 protected resource", () => {
  it("publishes Protected Resource Metadata at both well-known paths", async () => {
    for (const path of ["/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"]) {
      const res = await fetch(new URL(path, remote.url));
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({
        resource,
        authorization_servers: [oidc.issuer],
        scopes_supported: ["users:read", "users:write"],
        bearer_methods_supported: ["header"],
        resource_name: expect.any(String),
      });
    }
  });

  it("users-mcp doctor reads the issuer's metadata and names its keys", async () => {
    const r = await promisify(execFile)(process.execPath, [SERVER, "doctor"], {
      env: {
        PATH: process.env.PATH,
        ...isolatedEnv(),
        ...sandboxEnv(sandbox),
        USERS_MCP_OAUTH_ISSUER: oidc.issuer,
        USERS_MCP_PUBLIC_URL: new URL(resource).origin,
      } as NodeJS.ProcessEnv,
    }).catch((e: { stdout: string }) => e);
    expect(r.stdout).toContain(
      `OAuth (--http): tokens from ${oidc.issuer} for ${resource}; issuer metadata read, keys at ${oidc.issuer}/jwks`,
    );
  });

  it("answers 401 with the metadata's address when no token is sent, and invalid_token for every bad one", async () => {
    const none = await rpc(INIT);
    expect(none.status).toBe(401);
    const challenge = none.headers.get("www-authenticate") ?? "";
    expect(challenge).toBe(`Bearer resource_metadata="${new URL("/.well-known/oauth-protected-resource/mcp", remote.url)}"`);
    const now = Math.floor(Date.now() / 1000);
    const bad: Record<string, string> = {
      garbage: "not-a-token",
      "garbage JWT": "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln",
      "wrong audience": await oidc.token("users:read users:write", "https://elsewhere.example/mcp"),
      expired: await oidc.sign({ exp: now - 600, iat: now - 1200 }),
      "not yet valid": await oidc.sign({ nbf: now + 3600 }),
      "foreign key": await oidc.sign({}, { foreignKey: true }),
      "foreign issuer": await oidc.sign({ iss: "https://evil.example" }),
      "alg none": `${Buffer.from(JSON.stringify({ alg: "none", typ: "JWT" })).toString("base64url")}.${Buffer.from(
        JSON.stringify({ iss: oidc.issuer, aud: resource, sub: "x", scope: "users:read users:write", exp: now + 600 }),
      ).toString("base64url")}.`,
    };
    for (const [what, token] of Object.entries(bad)) {
      const res = await rpc(INIT, token);
      expect(res.status, what).toBe(401);
      const header = res.headers.get("www-authenticate") ?? "";
      expect(header, what).toMatch(/^Bearer error="invalid_token", error_description="[^"]+", resource_metadata="http:/);
      const body = (await res.json()) as { error: { message: string } };
      expect(body.error.message, what).toMatch(/^Unauthorized: /);
      expect(JSON.stringify(body) + header, what).not.toContain(token.slice(0, 40));
    }
    // The good token still works after all that.
    expect((await rpc(INIT, await oidc.token("users:read"))).status).toBe(200);
  });

  it("a users:read token reads, and gets 403 insufficient_scope on a write with nothing sent upstream", async () => {
    const token = await oidc.token("users:read");
    const list = await rpc({ jsonrpc: "2.0", id: 1, method: "tools/list" }, token);
    expect(list.status).toBe(200);
    const read = (await (await callTool("get_current_user", {}, token)).json()) as { result: { isError?: boolean } };
    expect(read.result.isError).toBeFalsy();
    const before = upstreamWrites();
    const write = await callTool("update_compliance", { compliance: { licensedStates: { add: ["VT"] } } }, token);
    expect(write.status).toBe(403);
    expect(write.headers.get("www-authenticate")).toBe(
      `Bearer error="insufficient_scope", scope="users:read users:write", resource_metadata="${new URL("/.well-known/oauth-protected-resource/mcp", remote.url)}"`,
    );
    expect(((await write.json()) as { error: { message: string } }).error.message).toMatch(/lacks the scope.*users:write/);
    expect(upstreamWrites()).toBe(before);
  });

  it("a users:write token writes, with the actor on the audit record", async () => {
    const token = await oidc.token("users:write");
    const res = (await (await callTool("update_compliance", { compliance: { licensedStates: { add: ["ME"] } } }, token)).json()) as {
      result: { structuredContent: Record<string, unknown> };
    };
    expect(res.result.structuredContent).toMatchObject({ applied: true });
    const mine = auditLines().filter((l) => l.id === res.result.structuredContent.auditId);
    expect(mine.map((l) => l.phase)).toEqual(["intent", "outcome"]);
    for (const l of mine) expect(l.actor, JSON.stringify(mine)).toEqual({ sub: "machine", client_id: "machine" });
  });

  it("checks opaque access tokens through the issuer's introspection endpoint", async () => {
    const opaqueResource = `http://127.0.0.1:${opaquePort}/mcp`;
    const server = await startHttp(
      sandboxEnv(sandbox, {
        ...isolatedEnv(),
        USERS_MCP_OAUTH_ISSUER: oidc.issuer,
        USERS_MCP_PUBLIC_URL: `http://127.0.0.1:${opaquePort}`,
        USERS_MCP_OAUTH_CLIENT_ID: "machine",
        USERS_MCP_OAUTH_CLIENT_SECRET: "machine-secret-0123456789",
        USERS_MCP_AUDIT_LOG: "off",
      }),
      ["--port", String(opaquePort)],
    );
    try {
      const token = await oidc.token("users:read", opaqueResource);
      expect(token.split(".").length).not.toBe(3);
      const post = (t: string) =>
        fetch(server.url, {
          method: "POST",
          headers: { ...MCP_HEADERS, "mcp-protocol-version": "2025-11-25", authorization: `Bearer ${t}` },
          body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
        });
      expect((await post(token)).status).toBe(200);
      const unknown = await post("opaque-token-the-issuer-never-issued");
      expect(unknown.status).toBe(401);
      expect(unknown.headers.get("www-authenticate")).toMatch(/error="invalid_token", error_description="the token is not active"/);
      // A JWT for the other resource is not accepted here either: its audience is not this resource.
      expect((await post(await oidc.token("users:read"))).status).toBe(401);
    } finally {
      await server.stop();
    }
  });

  it("signs a person in with authorization code + PKCE through the SDK client, and records who wrote", async () => {
    const auth = new TestAuthProvider();
    const connect = async () => {
      const client = new Client({ name: "oauth-tests", version: "1.0.0" });
      await client.connect(new StreamableHTTPClientTransport(new URL(remote.url), { authProvider: auth }));
      return client;
    };
    const first = new StreamableHTTPClientTransport(new URL(remote.url), { authProvider: auth });
    await expect(new Client({ name: "oauth-tests", version: "1.0.0" }).connect(first)).rejects.toBeInstanceOf(UnauthorizedError);
    expect(auth.authorizationUrl?.searchParams.get("resource")).toBe(resource);
    expect(auth.authorizationUrl?.searchParams.get("code_challenge_method")).toBe("S256");
    await first.finishAuth(await signIn(auth.authorizationUrl as URL));
    const client = await connect();
    const written = (await client.callTool({
      name: "update_compliance",
      arguments: { compliance: { licensedProducts: { add: ["Dental"] } } },
    })) as unknown as { structuredContent: Record<string, unknown> };
    expect(written.structuredContent).toMatchObject({ applied: true });
    const record = auditLines().find((l) => l.id === written.structuredContent.auditId);
    expect(record?.actor).toEqual({ sub: PERSON.sub, email: PERSON.email, name: PERSON.name, client_id: PUBLIC_CLIENT });
    // list_writes and `users-mcp audit` say who.
    const listed = (await client.callTool({ name: "list_writes", arguments: { limit: 1 } })) as unknown as {
      structuredContent: { writes: Array<{ by?: unknown }> };
    };
    expect(listed.structuredContent.writes[0]?.by).toEqual(record?.actor);
    const { stdout } = await promisify(execFile)(process.execPath, [SERVER, "audit"], {
      env: { PATH: process.env.PATH, ...isolatedEnv(), USERS_MCP_AUDIT_LOG: audit },
    });
    expect(stdout).toMatch(/\bby\b/);
    expect(stdout).toContain(`${PERSON.email} (via ${PUBLIC_CLIENT})`);
    await client.close();
  });
});

describe("scopes by the catalog's kind", () => {
  const writeKind = TOOL_NAMES.filter((n) => TOOL_CATALOG[n].kind === "write");
  const readKind = TOOL_NAMES.filter((n) => TOOL_CATALOG[n].kind === "read");
  const listed = async (token: string) =>
    ((await (await rpc({ jsonrpc: "2.0", id: 1, method: "tools/list" }, token)).json()) as { result: { tools: Array<{ name: string }> } })
      .result.tools;

  it("a users:read token gets 403 and zero upstream requests on every write-kind tool in the catalog, revert_write included", async () => {
    expect(writeKind).toContain("revert_write");
    // A colleague's real write, so that revert_write has something it could undo.
    const writer = await oidc.token("users:write");
    const made = (await (await callTool("update_compliance", { compliance: { licensedStates: { add: ["RI"] } } }, writer)).json()) as {
      result: { structuredContent: { auditId: string; applied: boolean } };
    };
    expect(made.result.structuredContent.applied).toBe(true);
    const auditId = made.result.structuredContent.auditId;
    const reader = await oidc.token("users:read");
    const argsFor: Record<string, Record<string, unknown>> = {
      update_compliance: { compliance: { licensedStates: { remove: ["RI"] } } },
      revert_write: { auditId },
    };
    const upstreamBefore = sandbox.requests.length;
    const auditBefore = auditLines().length;
    for (const name of writeKind) {
      const res = await callTool(name, argsFor[name] ?? {}, reader);
      expect(res.status, name).toBe(403);
      expect(res.headers.get("www-authenticate"), name).toMatch(/^Bearer error="insufficient_scope"/);
      expect(((await res.json()) as { error: { message: string } }).error.message, name).toMatch(/Nothing was sent upstream/);
    }
    expect(sandbox.requests.length).toBe(upstreamBefore);
    expect(auditLines().length).toBe(auditBefore);
    // Every read-kind tool is let through (whatever the tool then answers).
    for (const name of readKind) expect((await callTool(name, {}, reader)).status, name).toBe(200);
  });

  it("tools/list under OAuth lists only the tools the token's scopes allow, over MCP 2025 and 2026-07-28", async () => {
    const reader = await oidc.token("users:read");
    const writer = await oidc.token("users:write");
    expect((await listed(reader)).map((t) => t.name)).toEqual(readKind);
    expect((await listed(writer)).map((t) => t.name)).toEqual(TOOL_NAMES);
    const modern = await modernPost(remote.url, "tools/list", {}, { authorization: `Bearer ${reader}` });
    expect(((modern.body.result?.tools ?? []) as Array<{ name: string }>).map((t) => t.name)).toEqual(readKind);
    // A filtered list is this caller's own: no shared cache may keep it for another.
    expect(modern.body.result?.cacheScope).toBe("private");
  });

  it("a refused call is logged as a warning with its reason, not as an internal error", async () => {
    const writer = await oidc.token("users:write");
    const res = (await (await callTool("revert_write", { auditId: "no-such-write" }, writer)).json()) as {
      result: { isError?: boolean; content: Array<{ text: string }> };
    };
    expect(res.result.isError).toBe(true);
    expect(res.result.content[0]?.text).toMatch(/No write with id "no-such-write"/);
    const log = remote.stderr.join("");
    expect(log).toMatch(/users-mcp warn: revert_write: refused \{[^\n]*"reason":"No write with id/);
    expect(log).not.toMatch(/revert_write: internal error/);
  });

  it("the start-up line names the auth in force", () => {
    expect(remote.stderr.join("")).toContain(`(stateless; OAuth: issuer ${oidc.issuer}, resource ${resource}`);
  });
});

describe("claims with control characters", () => {
  // Any control character but the newline that ends each line, and the line separators and bidi overrides.
  const RAW_CONTROL = /[^\P{Cc}\n]|[\u2028\u2029\u202a-\u202e]/u;
  const audit_ = (file: string) =>
    promisify(execFile)(process.execPath, [SERVER, "audit"], {
      env: { PATH: process.env.PATH, ...isolatedEnv(), USERS_MCP_AUDIT_LOG: file },
    });

  it("a token whose name holds ESC, CR and a newline: stored escaped, and users-mcp audit prints one line per write", async () => {
    const name = "Mallory\u001b[31m\r\nforged applied row\u202e";
    const token = await oidc.sign({ sub: "mallory", name, scope: "users:write" });
    const res = (await (await callTool("update_compliance", { compliance: { licensedStates: { add: ["NV"] } } }, token)).json()) as {
      result: { structuredContent: { auditId: string } };
    };
    const mine = auditLines().filter((l) => l.id === res.result.structuredContent.auditId);
    expect(mine.length).toBe(2);
    for (const l of mine) expect(l.actor).toEqual({ sub: "mallory", name: "Mallory\\u001b[31m\\r\\nforged applied row\\u202e" });
    const { stdout } = await audit_(audit);
    expect(stdout).not.toMatch(RAW_CONTROL);
    const rows = stdout.split("\n").filter((l) => l.includes("Mallory"));
    expect(rows.length).toBe(1);
    expect(rows[0]).toContain("forged applied row");
  });

  it("users-mcp audit escapes control characters in every column of records written before (one record, one line)", async () => {
    await callTool("update_compliance", { compliance: { licensedStates: { add: ["OR"] } } }, await oidc.token("users:write"));
    const line = auditLines().find((l) => l.phase === "outcome" && l.tool === "update_compliance");
    expect(line).toBeDefined();
    const forged = join(mkdtempSync(join(tmpdir(), "users-mcp-oauth-raw-")), "audit.jsonl");
    const raw = {
      ...line,
      target: "leadping:user\r\n2026-01-01T00:00:00Z  update_user  x",
      actor: { sub: "eve", name: "Eve\u001b]0;pwned\u0007\nsecond line" },
    };
    const intent = { ...raw, phase: "intent" };
    writeFileSync(forged, `${JSON.stringify(intent)}\n${JSON.stringify(raw)}\n`, { mode: 0o600 });
    const { stdout } = await audit_(forged);
    expect(stdout).not.toMatch(RAW_CONTROL);
    const rows = stdout.split("\n").filter((l) => l.includes("Eve"));
    expect(rows.length).toBe(1);
    expect(rows[0]).toContain("\\r\\n2026-01-01T00:00:00Z");
    expect(rows[0]).toContain("Eve\\u001b]0;pwned\\u0007\\nsecond line");
    // --json: the same values when parsed, and nothing raw on a terminal.
    const json = await promisify(execFile)(process.execPath, [SERVER, "audit", "--json"], {
      env: { PATH: process.env.PATH, ...isolatedEnv(), USERS_MCP_AUDIT_LOG: forged },
    });
    expect(json.stdout).not.toMatch(RAW_CONTROL);
    expect(JSON.stringify(JSON.parse(json.stdout))).toContain(JSON.stringify(raw.actor.name).slice(1, -1));
  });
});

/** The SDK client's OAuth hooks for a public client registered with the provider. */
class TestAuthProvider implements OAuthClientProvider {
  authorizationUrl: URL | undefined;
  private saved: OAuthTokens | undefined;
  private verifier = "";
  get redirectUrl() {
    return "http://127.0.0.1/callback";
  }
  get clientMetadata(): OAuthClientMetadata {
    return {
      redirect_uris: [this.redirectUrl],
      client_name: "users-mcp tests",
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
      scope: "users:read users:write",
    };
  }
  clientInformation(): OAuthClientInformationMixed {
    return { client_id: PUBLIC_CLIENT };
  }
  tokens() {
    return this.saved;
  }
  saveTokens(tokens: OAuthTokens) {
    this.saved = tokens;
  }
  redirectToAuthorization(url: URL) {
    this.authorizationUrl = url;
  }
  saveCodeVerifier(verifier: string) {
    this.verifier = verifier;
  }
  codeVerifier() {
    return this.verifier;
  }
}

/** Follows the provider's redirects with a cookie jar (it signs the test person in) until the code comes back. */
async function signIn(start: URL): Promise<string> {
  const jar = new Map<string, string>();
  let url = start;
  const hops: string[] = [];
  for (let hop = 0; hop < 20; hop++) {
    hops.push(url.pathname);
    const res = await fetch(url, {
      redirect: "manual",
      headers: { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join("; ") },
    });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(";");
      const eq = (pair ?? "").indexOf("=");
      jar.set((pair ?? "").slice(0, eq), (pair ?? "").slice(eq + 1));
    }
    const location = res.headers.get("location");
    if (!location)
      throw new Error(
        `sign-in stopped at ${url} with ${res.status}: ${(await res.text())
          .replace(/<style[\s\S]*?<\/style>|<[^>]+>/g, " ")
          .replace(/\s+/g, " ")
          .slice(0, 300)}`,
      );
    url = new URL(location, url);
    if (url.href.startsWith("http://127.0.0.1/callback")) {
      const code = url.searchParams.get("code");
      if (!code) throw new Error(`no code: ${url.href}`);
      return code;
    }
  }
  throw new Error(`too many redirects: ${hops.join(" ")}`);
}
