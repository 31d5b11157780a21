import type { Transport } from "@modelcontextprotocol/server";

// On the start-up path (stdio wraps its transport with it), so it imports nothing of the call path;
// the argument check that refuses a marked key is src/mcp/arguments.ts.

/** What a top-level `__proto__` argument is renamed to before the SDK's parsing would drop it silently. */
export const RESERVED_MARK = "\u0000reserved:";

/**
 * The SDK parses a call's `arguments` into a fresh object, and a `__proto__` key becomes that
 * object's prototype instead of a key: the argument vanishes without a word. Before the SDK sees a
 * message, such a key is renamed to a marked one, so that the argument check refuses it by name.
 */
export function keepReservedKeys<M>(message: M): M {
  if (Array.isArray(message)) {
    for (const m of message) keepReservedKeys(m);
    return message;
  }
  const params = (message as { method?: unknown; params?: { arguments?: unknown } } | null)?.params;
  const args = params?.arguments;
  if (args === null || typeof args !== "object" || Array.isArray(args) || !Object.hasOwn(args, "__proto__")) return message;
  const copy: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(args))
    Object.defineProperty(copy, k === "__proto__" ? `${RESERVED_MARK}__proto__` : k, {
      value: v,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  (params as { arguments: unknown }).arguments = copy;
  return message;
}

/**
 * A transport whose inbound messages keep reserved argument keys for the argument check: stdio's
 * (src/transport/stdio.ts). The HTTP endpoint parses each body itself and calls keepReservedKeys.
 */
export function keepingReservedKeys<T extends Transport>(transport: T): T {
  let deliver: Transport["onmessage"];
  Object.defineProperty(transport, "onmessage", {
    configurable: true,
    enumerable: true,
    get: () => deliver,
    set: (handler: Transport["onmessage"]) => {
      deliver = handler && ((message, extra) => handler(keepReservedKeys(message), extra));
    },
  });
  return transport;
}
