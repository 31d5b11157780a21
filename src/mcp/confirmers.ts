import {
  type ClientCapabilities,
  inputResponse,
  type JSONRPCRequest,
  type RequestId,
  SdkError,
  SdkErrorCode,
  type Server,
  type ServerContext,
} from "@modelcontextprotocol/server";
import type { CallContext } from "../client/call-context.js";
import type { Config } from "../settings/config.js";
import { type Answer, type Confirmer, PendingQuestion } from "../writes/confirm.js";
import { type ConfirmClaims, type ConfirmStates, MAX_CONFIRM_STATE_MS } from "../writes/confirm-state.js";
import type { Caller, HostAnswer, QuestionBoard } from "./answers.js";
import type { LazyJsonSchemaValidator } from "./lazy-validator.js";

export type { Caller };

/**
 * The confirmation port's implementations, one per protocol generation and transport:
 * - MCP 2026-07-28 (`rounds`): the question ends the call as `input_required` with a sealed state;
 *   the client's retry of the same call brings the answer, which counts once;
 * - MCP 2025 over a connection that carries requests of the server's (`push`): asked with
 *   `elicitation/create` during the call;
 * - a host that cannot be asked: why, truly.
 * Only an explicit accept counts as yes: a decline, a dismissal, no answer in time, or an answer that
 * does not fit the form leaves the record alone.
 */

/** The form a confirmation asks for: one yes/no, pre-set to yes, so that "Accept" applies the change. */
export const CONFIRM_SCHEMA = {
  type: "object" as const,
  properties: {
    confirm: {
      type: "boolean" as const,
      title: "Apply this change",
      description: "Accept to apply the change described above; decline to leave the record as it is.",
      default: true,
    },
  },
};

/** Why a host cannot be asked, from what it declared; undefined when it declared form elicitation. */
export function whyCannotAsk(capabilities: ClientCapabilities | undefined): string | undefined {
  const e = capabilities?.elicitation as { form?: unknown; url?: unknown } | undefined;
  if (e === undefined) return "it did not declare elicitation";
  // `form`, or a bare `elicitation: {}` (the meaning before modes), is form elicitation.
  if (e.form === undefined && e.url !== undefined)
    return "it declared only URL elicitation, which opens a web page and cannot carry this yes/no question";
  return undefined;
}

/** What an elicitation answer means for the change: only an explicit accept (not `confirm: false`) is yes. */
export function confirmationOf(answer: {
  action?: unknown;
  content?: Record<string, unknown> | undefined;
}): "accepted" | "declined" | "cancelled" {
  if (answer.action === "decline") return "declined";
  if (answer.action === "cancel") return "cancelled";
  if (answer.action !== "accept") return "declined";
  const confirm = answer.content?.confirm;
  return confirm === undefined || confirm === true ? "accepted" : "declined"; // false, or an answer that does not fit the form
}

/**
 * MCP 2026-07-28: the first leg ends the call with the question and a sealed state (nothing is held
 * while the person decides: not the record's turn, not a connection); the retry brings the answer,
 * checked against this very call before anything is read, and spent once.
 */
export function roundsConfirmer(ctx: ServerContext, states: ConfirmStates, config: Config, caller: Caller): Confirmer {
  const state = ctx.mcpReq.requestState();
  let opened: ConfirmClaims | undefined;
  return {
    check(call) {
      if (typeof state !== "string") return undefined;
      const claims = states.open(state);
      const again = `Nothing was written. To ask the person again, call ${call.tool} afresh with the same arguments (a new call, not a retry of this one).`;
      if (claims === "malformed") return `Refused: the requestState of this retry is not one this server issued. ${again}`;
      if (claims === "foreign")
        return `Refused: the requestState of this retry does not open under this server's key: it was altered, or issued by another server (replicas must share USERS_MCP_PREVIEW_KEY) or before a restart. ${again}`;
      if (claims === "expired")
        return `Refused: the person's answer came too late; a confirmation is good for ${Math.round(Math.min(config.confirm.timeoutMs, MAX_CONFIRM_STATE_MS) / 1000)} s (USERS_MCP_CONFIRM_TIMEOUT_MS, at most 15 minutes). ${again}`;
      if (
        claims.tool !== call.tool ||
        claims.record !== call.key ||
        claims.request !== call.request ||
        claims.tenant !== caller.tenant ||
        claims.actor !== caller.actor?.sub
      )
        return `Refused: the requestState of this retry was issued for a different call (another tool, record, change or caller). ${again}`;
      if (states.isSpent(claims)) return answeredAlready(call.tool);
      opened = claims;
      return undefined;
    },
    async ask(question): Promise<Answer> {
      const answer = opened ? answerIn(ctx) : "missing";
      if (!opened || answer === "missing") {
        const claims = {
          tool: question.call.tool,
          record: question.call.key,
          request: question.call.request,
          change: question.change,
          seen: question.seen,
          tenant: caller.tenant,
          actor: caller.actor?.sub,
        };
        return { kind: "asking", pending: new PendingQuestion(question.message, states.seal(claims, config.confirm.timeoutMs)) };
      }
      if (!(await states.spend(opened))) return { kind: "refused", message: answeredAlready(question.call.tool) };
      return { kind: "answered", confirmation: answer, asked: { seen: opened.seen ?? {}, change: opened.change } };
    },
  };
}

const answeredAlready = (tool: string) =>
  `Refused: this person's answer was used already (the retry carried a requestState that was answered before). Nothing was written again. Read the record to see the change that answer made; for another change, make a new ${tool} call.`;

/** What a 2026-07-28 retry answered to the confirmation question; "missing" when it carries no answer. */
function answerIn(ctx: ServerContext): "accepted" | "declined" | "cancelled" | "missing" {
  const answer = inputResponse(ctx.mcpReq.inputResponses, "confirm");
  if (answer.kind === "missing") return "missing";
  if (answer.kind !== "elicit") return "declined";
  return confirmationOf(answer);
}

/**
 * MCP 2025 over a connection that carries requests of the server's (stdio): asked with a form
 * elicitation sent as part of the call. The upstream deadline does not run while a person decides.
 */
export function pushConfirmer(server: Server, requestId: RequestId, config: Config, validator: LazyJsonSchemaValidator): Confirmer {
  return {
    check: () => undefined,
    async ask(question, call: CallContext): Promise<Answer> {
      const resume = call.pauseDeadline();
      try {
        await validator.load();
        const answer = await server.elicitInput(
          { mode: "form", message: question.message, requestedSchema: CONFIRM_SCHEMA },
          { relatedRequestId: requestId, signal: call.signal, timeout: config.confirm.timeoutMs },
        );
        return { kind: "answered", confirmation: confirmationOf(answer) };
      } catch (err) {
        if (err instanceof SdkError && err.code === SdkErrorCode.RequestTimeout) return { kind: "answered", confirmation: "timeout" };
        if (call.signal.aborted) return { kind: "answered", confirmation: "cancelled" };
        return { kind: "answered", confirmation: "declined" }; // an answer that does not fit the form is no yes
      } finally {
        resume();
      }
    },
  };
}

/** Words for a 2025 HTTP call whose host's capabilities this server cannot know: the protocol and transport are why. */
export const NO_SESSION_2025_HTTP =
  "it speaks MCP 2025 over HTTP and sent this call without the Mcp-Session-Id this server gave it at initialize, so the server cannot know whether it can answer a question";

/** How a 2025 HTTP call's stream carries a request of the server's, and what the call holds while it waits. */
export interface QuestionChannel {
  /** Sends a request of the server's on the event stream of the call it belongs to. */
  send(message: JSONRPCRequest, relatedTo: RequestId): Promise<void>;
  /** While a person decides, the call gives back its in-flight slot (and takes it again after). */
  idle<T>(waiting: Promise<T>): Promise<T>;
}

/**
 * MCP 2025 over Streamable HTTP: asked with `elicitation/create` on the event stream of the call's own
 * POST; the host POSTs the answer to /mcp, where any replica takes it (QuestionBoard). The wait ends at
 * USERS_MCP_CONFIRM_TIMEOUT_MS, or when the call is stopped (the client went away, the server drains).
 */
export function streamConfirmer(
  channel: QuestionChannel,
  requestId: RequestId,
  board: QuestionBoard,
  states: ConfirmStates,
  config: Config,
  caller: Caller,
): Confirmer {
  return {
    check: () => undefined,
    async ask(question, call: CallContext): Promise<Answer> {
      const timeoutMs = config.confirm.timeoutMs;
      const q = await board.open(states, caller, timeoutMs);
      const resume = call.pauseDeadline();
      let timer: NodeJS.Timeout | undefined;
      try {
        const params = { mode: "form" as const, message: question.message, requestedSchema: CONFIRM_SCHEMA };
        await channel.send({ jsonrpc: "2.0", id: q.id, method: "elicitation/create", params }, requestId);
        const ended = new Promise<"timeout" | "stopped">((resolve) => {
          timer = setTimeout(() => resolve("timeout"), timeoutMs);
          if (call.signal.aborted) resolve("stopped");
          call.signal.addEventListener("abort", () => resolve("stopped"), { once: true });
        });
        const answer: HostAnswer | "timeout" | "stopped" = await channel.idle(Promise.race([q.answer, ended]));
        if (answer === "timeout") return { kind: "answered", confirmation: "timeout" };
        // A stopped call, or a host that answered with an error: the question closed without an answer.
        if (answer === "stopped" || answer === "error") return { kind: "answered", confirmation: "cancelled" };
        return { kind: "answered", confirmation: confirmationOf(answer) };
      } finally {
        clearTimeout(timer);
        q.close();
        resume();
      }
    },
  };
}
