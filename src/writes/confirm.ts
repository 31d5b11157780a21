import type { CallContext } from "../client/call-context.js";

/**
 * The confirmation port: how the write pipeline asks a person about a sensitive change. The pipeline
 * says what to ask and about which call; an implementation (in the MCP layer, one per protocol
 * generation and transport) says what came of it. The pipeline never learns a protocol version, and
 * nothing here is thrown: every outcome is a value.
 */

/** The call a question is about: the tool, the record (provider, account, id) and the change requested. */
export interface AskedCall {
  tool: string;
  key: string;
  /** Hash of the call's own arguments. */
  request: string;
}

/** What the person is asked, and what their answer binds to. */
export interface Question {
  call: AskedCall;
  /** Words for the person: what changes, on whose record, on which platform. */
  message: string;
  /** Hash of the planned change, field by field. */
  change: string;
  /** The current value of every field the change touches, as read when asking. */
  seen: Record<string, unknown>;
}

/**
 * What came of asking:
 * - `answered`: the host answered. `asked` is set when the answer was given to a question put in an
 *   earlier round trip: the values and change the person saw then, checked against the record now;
 * - `unavailable`: the host cannot be asked; `reason` says truly why, as a clause ("it did not declare
 *   elicitation");
 * - `asking`: the question was put and the call ends here; the host comes back with the answer in a
 *   new round trip (the pipeline returns `pending` as its result, untouched);
 * - `refused`: the answer brought cannot count (spent, expired, for another call); `message` is the
 *   whole answer for the agent.
 */
export type Answer =
  | {
      kind: "answered";
      confirmation: "accepted" | "declined" | "cancelled" | "timeout";
      asked?: { seen: Record<string, unknown>; change: string } | undefined;
    }
  | { kind: "unavailable"; reason: string }
  | { kind: "asking"; pending: PendingQuestion }
  | { kind: "refused"; message: string };

/**
 * A question that ends the call: the MCP layer turns it into its protocol's "ask and come back"
 * result. `state` is opaque here (it is what the answer must come back with).
 */
export class PendingQuestion {
  constructor(
    readonly message: string,
    readonly state: string,
  ) {}
}

/** The person behind the MCP host, as the write pipeline sees them. */
export interface Confirmer {
  /**
   * Before any work: whether an answer this call already brings can count at all (sealed by this
   * server, unexpired, for this very call, not spent). Words for the agent when it cannot.
   */
  check(call: AskedCall): string | undefined;
  /** Asks; resolves with what came of it (never rejects for what the person or host did). */
  ask(question: Question, ctx: CallContext): Promise<Answer>;
}

/** A host that cannot be asked, and the true reason why. */
export const cannotAsk = (reason: string): Confirmer => ({
  check: () => undefined,
  ask: async () => ({ kind: "unavailable", reason }),
});
