/**
 * Characters that let text forge or hide what a person reads in a log, a terminal or a table: C0 and
 * C1 controls (ESC starts terminal sequences, CR and LF start a new row), DEL, line and paragraph
 * separators, bidi embeddings, overrides and isolates, the zero-width space, the byte-order mark and
 * Unicode tags — the same set a free-text argument refuses (kernel/redact's hasHiddenCharacters).
 */
const CONTROL = /[\p{Cc}\u2028\u2029\u202A-\u202E\u2066-\u2069\u200B\uFEFF\u{E0000}-\u{E007F}]/gu;
const HAS_CONTROL = new RegExp(CONTROL.source, "u");
const SHORT: Record<string, string> = { "\t": "\\t", "\n": "\\n", "\r": "\\r" };

const escapeOne = (c: string): string => {
  const short = SHORT[c];
  if (short) return short;
  const code = c.codePointAt(0) ?? 0;
  return code > 0xffff ? `\\u{${code.toString(16)}}` : `\\u${code.toString(16).padStart(4, "0")}`;
};

/**
 * The text with every such character written out as a visible escape (`\n`, `\r`, `\t`, `\u001b`,
 * `\u202e`): what was there stays readable, and one value stays on one line. Text without any comes
 * back as the same string.
 */
export function escapeControlCharacters(text: string): string {
  return HAS_CONTROL.test(text) ? text.replace(CONTROL, escapeOne) : text;
}

/**
 * JSON text (from JSON.stringify, which escapes only U+0000–U+001F) with the rest of those characters
 * escaped as JSON `\uXXXX` escapes: the same value when parsed, nothing raw on a terminal.
 */
export function escapeJsonControls(json: string): string {
  return json.replace(/[\u007F-\u009F\u2028\u2029\u202A-\u202E\u2066-\u2069\u200B\uFEFF]|[\u{E0000}-\u{E007F}]/gu, (c) =>
    c.length === 2
      ? `\\u${c.charCodeAt(0).toString(16)}\\u${c.charCodeAt(1).toString(16)}`
      : `\\u${(c.codePointAt(0) ?? 0).toString(16).padStart(4, "0")}`,
  );
}
