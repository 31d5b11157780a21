// What changed between two records, compared as values: key order never makes two equal records differ.

/** One entry of a write tool's `changed` list. */
export interface Change {
  field: string;
  before: unknown;
  after: unknown;
}

/** Stable JSON for equality: key order must not make two equal records look different. */
export function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v !== null && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

/** The fields of `next` whose value differs from `current` (undefined and null count as "no value"). */
export function diff(current: Record<string, unknown>, next: Record<string, unknown>, fields: Iterable<string>): Change[] {
  const changes: Change[] = [];
  for (const field of fields) {
    const before = current[field] ?? null;
    const after = next[field] ?? null;
    if (canonical(before) !== canonical(after)) changes.push({ field, before, after });
  }
  return changes;
}
