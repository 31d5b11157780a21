import { InputError } from "../client/errors.js";
import { formatPath } from "./explain.js";
import { RESERVED_MARK } from "./reserved-keys.js";

export { keepingReservedKeys, keepReservedKeys } from "./reserved-keys.js";

// The checks every call's raw arguments pass before a schema looks at them.

/** Arguments larger than this (as JSON) are refused before validation: no tool needs more. */
export const MAX_ARGUMENT_BYTES = 256 * 1024;
/** No tool's arguments nest deeper than 4 levels; deeper input is refused before anything walks it recursively. */
export const MAX_ARGUMENT_DEPTH = 16;
/** Values (objects, arrays, scalars) in one call's arguments; the largest legitimate call has a few thousand. */
const MAX_ARGUMENT_VALUES = 50_000;

/** Keys that name a JavaScript object's machinery: no tool has such an argument, and parsing may drop or misread them. */
const RESERVED_KEYS = new Set(["__proto__", "constructor", "prototype"]);

/**
 * Checks the raw arguments without recursion, so hostile input cannot exhaust the stack: too deep,
 * too many values, too many bytes, or a `__proto__` key (which parsing would silently drop, losing
 * what the caller meant) are refused with the place to fix.
 */
export function checkArgumentShape(args: Record<string, unknown>): InputError | undefined {
  const stack: Array<[unknown, PropertyKey[]]> = [[args, []]];
  let values = 0;
  while (stack.length) {
    const [value, path] = stack.pop() as [unknown, PropertyKey[]];
    values += 1;
    if (values > MAX_ARGUMENT_VALUES)
      return new InputError([{ field: "(arguments)", message: `too large: more than ${MAX_ARGUMENT_VALUES} values` }]);
    if (value === null || typeof value !== "object") continue;
    if (path.length >= MAX_ARGUMENT_DEPTH)
      return new InputError([
        {
          field: formatPath(path),
          message: `nested too deeply (more than ${MAX_ARGUMENT_DEPTH} levels); no argument of any tool needs that`,
        },
      ]);
    if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--) stack.push([value[i], [...path, i]]);
      continue;
    }
    for (const key of Object.keys(value)) {
      const reserved = key.startsWith(RESERVED_MARK) ? key.slice(RESERVED_MARK.length) : RESERVED_KEYS.has(key) ? key : undefined;
      if (reserved !== undefined)
        return new InputError([{ field: formatPath([...path, reserved]), message: "a reserved name, not accepted as a key; remove it" }]);
      stack.push([(value as Record<string, unknown>)[key], [...path, key]]);
    }
  }
  if (Buffer.byteLength(JSON.stringify(args)) > MAX_ARGUMENT_BYTES)
    return new InputError([{ field: "(arguments)", message: `too large: at most ${MAX_ARGUMENT_BYTES / 1024} KiB of JSON` }]);
  return undefined;
}
