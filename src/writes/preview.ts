import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { InputError } from "../client/errors.js";
import { canonical } from "./diff.js";

/** How long a preview stays good for a write. */
export const PREVIEW_TTL_MS = 15 * 60_000;

interface Claims {
  /** Tool name. */
  tool: string;
  /** Record key (provider, credential account, record id). */
  record: string;
  /** Hash of the change requested (the arguments without dryRun and previewToken). */
  request: string;
  /** The values the preview read, field by field. */
  seen: Record<string, unknown>;
  /** Expiry, epoch ms. */
  expires: number;
}

/** Version of the token form: a token of another version is malformed to this server. */
const PREFIX = "pv2";

/**
 * The one recipe for the hashes a preview or a confirmation binds: SHA-256 of the canonical JSON, 22
 * base64url characters (132 bits). Equal values hash the same whatever the order of their keys.
 */
export function bindingHash(value: unknown): string {
  return createHash("sha256").update(canonical(value)).digest("base64url").slice(0, 22);
}

/** Hash of a call's change request (its arguments without dryRun and previewToken): the same change hashes the same. */
export function requestHash(change: Record<string, unknown>): string {
  return bindingHash(change);
}

/**
 * Preview tokens bind a write to what its dry run saw. A token is a signed statement: "for this tool,
 * this record and this change, the fields read had these values, until this time". It guards against
 * stale data; it is not an approval, and a write that carries one is still confirmed like any other.
 * Signed with HMAC-SHA256 under a random key per process, or USERS_MCP_PREVIEW_KEY when several
 * processes must accept each other's tokens.
 */
export class PreviewTokens {
  private readonly key: Buffer;

  constructor(key?: string | Buffer) {
    this.key = key === undefined ? randomBytes(32) : typeof key === "string" ? Buffer.from(key, "utf8") : key;
  }

  issue(tool: string, record: string, request: string, seen: Record<string, unknown>, now = Date.now()): string {
    const claims: Claims = { tool, record, request, seen, expires: now + PREVIEW_TTL_MS };
    const body = Buffer.from(JSON.stringify(claims)).toString("base64url");
    return `${PREFIX}.${body}.${this.sign(body)}`;
  }

  /** The values the preview saw, when the token is good for this call; else an InputError that says why. */
  check(token: string, tool: string, record: string, request: string, now = Date.now()): Record<string, unknown> {
    const refuse = (message: string): never => {
      throw new InputError([{ field: "previewToken", message }]);
    };
    const parts = token.split(".");
    if (parts.length !== 3 || parts[0] !== PREFIX || !parts[1] || !parts[2])
      refuse("malformed: pass the previewToken exactly as a dry run (dryRun: true) of this tool returned it, or leave it out");
    const [, body, mac] = parts as [string, string, string];
    const expected = Buffer.from(this.sign(body));
    const given = Buffer.from(mac);
    if (given.length !== expected.length || !timingSafeEqual(given, expected))
      refuse(
        "not issued by this server: its signature does not match. The server may have restarted since the preview (tokens are signed with a key per process unless USERS_MCP_PREVIEW_KEY is set), or the token was altered. Preview again with dryRun: true",
      );
    let claims: Claims;
    try {
      claims = JSON.parse(Buffer.from(body, "base64url").toString("utf8")) as Claims;
    } catch {
      return refuse("malformed: pass the previewToken exactly as the dry run returned it");
    }
    if (typeof claims.expires !== "number" || now > claims.expires) {
      const ago = Math.max(1, Math.round((now - (claims.expires ?? 0)) / 60_000));
      refuse(`expired ${ago} minute(s) ago (a preview is good for 15 minutes): preview again with dryRun: true`);
    }
    if (claims.tool !== tool) refuse(`issued by ${claims.tool}, not ${tool}: preview this change with ${tool} and dryRun: true`);
    if (claims.record !== record)
      refuse("issued for another record (or another account's credentials): preview this record with dryRun: true");
    if (claims.request !== request)
      refuse(
        "issued for a different change: these arguments are not the ones previewed. Send exactly the previewed arguments with it, or preview this change with dryRun: true",
      );
    return claims.seen ?? {};
  }

  private sign(body: string): string {
    return createHmac("sha256", this.key).update(`${PREFIX}.${body}`).digest("base64url");
  }
}
