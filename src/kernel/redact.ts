/**
 * Redaction by structure and by scope. A secret is known by where it is: a credential setting (the
 * server's own, from its environment), a credential a call sent upstream, a password or PIN a call
 * wrote. Fields known to be secret are replaced where values are built; text that may echo a
 * credential (an upstream's error body) is scrubbed with the server's secrets plus the secrets of the
 * call it belongs to — never with anything another call or another caller sent. Nothing a request
 * sends joins process-wide state.
 */

/** The server's own secrets, from its settings: set once at start-up, never added to by a request. */
let serverSecrets: readonly string[] = [];

/** Values shorter than this are not scrubbed from text: they would match ordinary words and dates. */
export const MIN_SECRET_LENGTH = 4;

/** Sets the server-wide secrets (the credentials in its own settings). Called at start-up only. */
export function setServerSecrets(values: ReadonlyArray<string | null | undefined>): void {
  serverSecrets = [...new Set(values.filter((v): v is string => typeof v === "string" && v.length >= MIN_SECRET_LENGTH))];
}

/** Whether a value is one of the server's own secrets (a call need not keep it separately). */
export function isServerSecret(value: string): boolean {
  return serverSecrets.includes(value);
}

/** A call's own secrets: what `scrub` replaces besides the server's. Undefined or empty for most calls. */
export type ScopedSecrets = readonly string[] | undefined;

const BEARER = /(Bearer\s+)[A-Za-z0-9._~+/=-]{8,}/gi;
const HAS_BEARER = new RegExp(BEARER.source, "i");
const MAY_HOLD_BEARER = /bearer/i;

function replaceAll(text: string, list: readonly string[]): string {
  let out = text;
  for (const s of list) if (out.includes(s)) out = out.split(s).join("[redacted]");
  return out;
}

/** Text with the server's secrets, the given call's secrets, and any bearer credential replaced. */
export function redact(text: string, scoped?: ScopedSecrets): string {
  let out = replaceAll(text, serverSecrets);
  if (scoped?.length) out = replaceAll(out, scoped);
  // Belt and braces for values we were never told about: bearer credentials in echoed headers.
  return MAY_HOLD_BEARER.test(out) ? out.replace(BEARER, "$1[redacted]") : out;
}

/** "Bearer " and eight token characters: shorter text cannot hold what BEARER replaces. */
const MIN_BEARER_LENGTH = 15;

/** Whether `redact` would change the text, without building anything. */
function holdsSecret(text: string, scoped: ScopedSecrets): boolean {
  for (const s of serverSecrets) if (text.includes(s)) return true;
  if (scoped) for (const s of scoped) if (text.includes(s)) return true;
  return text.length >= MIN_BEARER_LENGTH && MAY_HOLD_BEARER.test(text) && HAS_BEARER.test(text);
}

// Format characters (zero-width, bidi controls, Unicode tags, which can smuggle invisible ASCII) let
// upstream text hide instructions from a human reviewing what the model read; C0/C1 controls (except
// tab and newline) can forge log lines. Hangul fillers render as blanks.
const INVISIBLE = /[^\P{Cc}\t\n]|\p{Cf}|[\u115F\u1160\u3164\uFFA0]/gu;

/**
 * Zero-width joiner and non-joiner are part of how Persian, the Indic scripts and emoji sequences spell
 * words and names: stripped, a name reads (and is written back) altered. They are kept where they join
 * a letter, mark or emoji to a letter, mark or emoji, and stripped anywhere else.
 */
const JOINABLE = /[\p{L}\p{M}\p{Extended_Pictographic}\p{Emoji_Modifier}]/u;

function joins(text: string, at: number): boolean {
  const low = text.charCodeAt(at - 1);
  const before = low >= 0xdc00 && low <= 0xdfff && at >= 2 ? text.codePointAt(at - 2) : text.codePointAt(at - 1);
  const after = text.codePointAt(at + 1);
  return (
    at > 0 &&
    before !== undefined &&
    after !== undefined &&
    JOINABLE.test(String.fromCodePoint(before)) &&
    JOINABLE.test(String.fromCodePoint(after))
  );
}

const keepJoiners = (match: string, at: number, text: string): string =>
  (match === "\u200C" || match === "\u200D") && joins(text, at) ? match : "";

/** Removes invisible and bidi control characters from text that a model or a log will read (joiners that join stay). */
export function stripInvisible(text: string): string {
  return text.replace(INVISIBLE, keepJoiners);
}

/**
 * Every string bound for the model or a log: secrets redacted, invisible and bidi controls removed.
 * A clean result (the usual case) is checked without allocating and comes back as the same object.
 */
export function cleanOutput<T>(value: T, scoped?: ScopedSecrets): T {
  return isClean(value, scoped) ? value : copyClean(value, scoped);
}

const HAS_INVISIBLE = new RegExp(INVISIBLE.source, "u");

/** Printable ASCII, tab and newline only: most of what upstreams send, and quicker to confirm than INVISIBLE. */
function plainAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 0x7e || (c < 0x20 && c !== 0x09 && c !== 0x0a)) return false;
  }
  return true;
}

const visible = (text: string): boolean => plainAscii(text) || !HAS_INVISIBLE.test(text) || stripInvisible(text) === text;

function isClean(value: unknown, scoped: ScopedSecrets): boolean {
  if (typeof value === "string") return visible(value) && !holdsSecret(value, scoped);
  if (Array.isArray(value)) {
    for (const v of value) if (!isClean(v, scoped)) return false;
    return true;
  }
  if (value !== null && typeof value === "object") {
    // Results are plain objects; an inherited enumerable key could only send the value to copyClean.
    for (const k in value) if (!visible(k) || !isClean((value as Record<string, unknown>)[k], scoped)) return false;
  }
  return true;
}

function copyClean<T>(value: T, scoped: ScopedSecrets): T {
  if (typeof value === "string") return redact(stripInvisible(value), scoped) as T;
  if (Array.isArray(value)) return value.map((v) => copyClean(v, scoped)) as T;
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const key = stripInvisible(k);
      // A `__proto__` key in upstream data stays a plain field instead of becoming a prototype.
      if (key === "__proto__")
        Object.defineProperty(out, key, { value: copyClean(v, scoped), enumerable: true, writable: true, configurable: true });
      else out[key] = copyClean(v, scoped);
    }
    return out as T;
  }
  return value;
}

/**
 * C0 and C1 controls, line and paragraph separators, bidi embeddings, overrides and isolates, the
 * zero-width space, the byte-order mark and Unicode tag characters. Written into a real person's record they hide or reorder
 * text for whoever reads it next, so free-text arguments refuse them. Zero-width joiners and the
 * LRM/RLM marks stay allowed: scripts such as Persian and Hebrew need them.
 */
const HIDDEN_IN_INPUT = /[\u0000-\u001F\u007F-\u009F\u2028\u2029\u202A-\u202E\u2066-\u2069\u200B\uFEFF\u{E0000}-\u{E007F}]/u;

/** True when a caller-supplied string carries characters that must not be written into a record. */
export function hasHiddenCharacters(text: string): boolean {
  return HIDDEN_IN_INPUT.test(text);
}
