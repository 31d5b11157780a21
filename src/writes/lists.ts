import { z } from "zod";
import { canonical } from "./diff.js";

/**
 * A list field the upstream replaces whole takes either the full list (which replaces it, as the
 * upstream does) or `{ add, remove }`, applied to the list as read inside the record's turn, so
 * parallel edits of one list all land and nobody has to restate the list.
 */
export function listField<A extends z.ZodType, R extends z.ZodType>(item: A, removeItem: R, max: number) {
  return z.union([
    z.array(item).max(max),
    z
      .strictObject({
        add: z.array(item).max(max).optional(),
        remove: z.array(removeItem).max(max).optional(),
      })
      .refine((e) => (e.add?.length ?? 0) + (e.remove?.length ?? 0) > 0, { message: "give add, remove, or both (non-empty)" }),
  ]);
}

export type ListEdit<T, R> = T[] | { add?: T[] | undefined; remove?: R[] | undefined };

/**
 * The new list: `edit` itself when it is an array, else `current` with `remove` taken out and `add`
 * appended. `same(entry, removal)` says whether a removal names an entry; `key` identifies an entry
 * for "already there". Warnings say what was already there or absent.
 */
export function applyListEdit<T, R>(
  field: string,
  current: readonly T[],
  edit: ListEdit<T, R>,
  same: (entry: T, removal: R) => boolean,
  key: (entry: T) => string = (e) => canonical(e),
): { list: T[]; warnings: string[] } {
  if (Array.isArray(edit)) return { list: [...edit], warnings: [] };
  const warnings: string[] = [];
  let list = [...current];
  const absent: R[] = [];
  for (const r of edit.remove ?? []) {
    const before = list.length;
    list = list.filter((e) => !same(e, r));
    if (list.length === before) absent.push(r);
  }
  const present: T[] = [];
  for (const a of edit.add ?? []) {
    if (list.some((e) => key(e) === key(a))) present.push(a);
    else list.push(a);
  }
  const say = (v: unknown) => (typeof v === "string" ? v : JSON.stringify(v));
  if (present.length) warnings.push(`${field}: ${present.map(say).join(", ")} already present; not added again.`);
  if (absent.length) warnings.push(`${field}: ${absent.map(say).join(", ")} not present; nothing to remove.`);
  return { list, warnings };
}
