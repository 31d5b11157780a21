import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";

/** The longest a confirmation question stays answerable over MCP 2026-07-28, whatever USERS_MCP_CONFIRM_TIMEOUT_MS says. */
export const MAX_CONFIRM_STATE_MS = 15 * 60_000;

/** What a sealed confirmation binds: the call, the record, the change, what was seen, and when it ends. */
export interface ConfirmClaims {
  /** The tool called. */
  tool: string;
  /** The record: provider, the credential's account, the record's id. */
  record: string;
  /** Hash of the change requested (the call's own arguments). */
  request: string;
  /** Hash of the planned change, field by field, before and after. */
  change: string;
  /** The values the first leg read, field by field: a record that moved since is a Conflict. */
  seen: Record<string, unknown>;
  /** The caller's tenant in caller-credentials mode: another caller's state is foreign. */
  tenant?: string | undefined;
  /** Who signed in (OAuth `sub`): another person's state is foreign. */
  actor?: string | undefined;
  /** Expiry, epoch ms. */
  expires: number;
  /** One per question: an accepted answer writes once. */
  nonce: string;
}

/** Why a requestState was refused, in words for the agent. */
export type StateProblem = "malformed" | "foreign" | "expired";

/** Version of the sealed form: a state sealed under another version is not one this server issued. */
const PREFIX = "cs2";
const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * The `requestState` of a confirmation asked through MCP 2026-07-28 Multi Round-Trip Requests: the
 * question travels in the result, the answer comes back with the client's retry of the same call,
 * and the state lets any replica that shares the key finish the round trip.
 *
 * Sealed with AES-256-GCM under a key derived (HKDF-SHA256, its own label) from the preview key:
 * the client can neither read the record's values in it nor change a byte without the seal failing.
 * An accepted state is spent once in this process; a replay on another replica meets a record that
 * moved (the write changed it) or one that needs no change, and writes nothing.
 */
export class ConfirmStates {
  private readonly key: Buffer;
  /** Nonces of states already answered, until their expiry. */
  private readonly spent = new Map<string, number>();

  /**
   * `remember`, when replicas share a database: records a nonce as answered there, resolving false when
   * another replica had recorded it already (a replay there).
   */
  constructor(
    previewKey: string | Buffer,
    private readonly remember?: (nonce: string, expires: number) => Promise<boolean>,
  ) {
    const ikm = typeof previewKey === "string" ? Buffer.from(previewKey, "utf8") : previewKey;
    this.key = Buffer.from(hkdfSync("sha256", ikm, Buffer.alloc(0), "users-mcp/requestState/v1", 32));
  }

  seal(claims: Omit<ConfirmClaims, "nonce" | "expires">, ttlMs: number, now = Date.now()): string {
    const full: ConfirmClaims = {
      ...claims,
      expires: now + Math.min(ttlMs, MAX_CONFIRM_STATE_MS),
      nonce: randomBytes(12).toString("base64url"),
    };
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv("aes-256-gcm", this.key, iv);
    cipher.setAAD(Buffer.from(PREFIX));
    const body = Buffer.concat([cipher.update(JSON.stringify(full), "utf8"), cipher.final()]);
    return `${PREFIX}.${Buffer.concat([iv, body, cipher.getAuthTag()]).toString("base64url")}`;
  }

  /** The claims of a state this server sealed and that has not expired; otherwise why not. */
  open(state: string, now = Date.now()): ConfirmClaims | StateProblem {
    if (typeof state !== "string" || !state.startsWith(`${PREFIX}.`) || state.length > 64 * 1024) return "malformed";
    const raw = Buffer.from(state.slice(PREFIX.length + 1), "base64url");
    if (raw.length < IV_BYTES + TAG_BYTES + 2) return "malformed";
    let claims: ConfirmClaims;
    try {
      const decipher = createDecipheriv("aes-256-gcm", this.key, raw.subarray(0, IV_BYTES));
      decipher.setAAD(Buffer.from(PREFIX));
      decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES));
      const text = Buffer.concat([decipher.update(raw.subarray(IV_BYTES, raw.length - TAG_BYTES)), decipher.final()]).toString("utf8");
      claims = JSON.parse(text) as ConfirmClaims;
    } catch {
      return "foreign"; // altered, or sealed under another key (another server, or this one before a restart)
    }
    if (typeof claims.expires !== "number" || now > claims.expires) return "expired";
    return claims;
  }

  /** Whether this state was answered already in this process (a replay). */
  isSpent(claims: ConfirmClaims): boolean {
    return this.spent.has(claims.nonce);
  }

  /** Marks a state answered, here and in the shared database if any; false when it was answered already (a replay). */
  async spend(claims: ConfirmClaims, now = Date.now()): Promise<boolean> {
    if (this.spent.size > 1_000) for (const [nonce, expires] of this.spent) if (expires < now) this.spent.delete(nonce);
    if (this.spent.has(claims.nonce)) return false;
    this.spent.set(claims.nonce, claims.expires);
    return this.remember ? this.remember(claims.nonce, claims.expires) : true;
  }
}
