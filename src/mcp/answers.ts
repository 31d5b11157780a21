import type { Database } from "../audit/database.js";
import type { Actor } from "../audit/log.js";
import type { Logger } from "../kernel/log.js";
import type { ConfirmClaims, ConfirmStates } from "../writes/confirm-state.js";

/**
 * Questions the server asked over a 2025 Streamable HTTP stream (`elicitation/create` on the stream of
 * the call's own POST), and their answers, which the host POSTs to /mcp as JSON-RPC responses and a
 * load balancer may send to any replica.
 *
 * A question's id is sealed like a confirmation's requestState (AES-256-GCM under the key the replicas
 * share): unguessable, bound to the caller (tenant and who signed in), expiring with the question, and
 * spent once (in the database when replicas share one, so a replay on another replica is refused too).
 * An answer for the replica holding the stream is handed over directly; one that lands elsewhere goes
 * through PostgreSQL LISTEN/NOTIFY. Without a database such an answer cannot reach the stream and is
 * refused; the question then times out and nothing is written.
 */

/** Who is asking: the caller's tenant and who signed in; another caller's answer is not theirs. */
export interface Caller {
  tenant?: string | undefined;
  actor?: Actor | undefined;
}

/** What a host answered: the JSON-RPC result of its `elicitation/create`, or "error" for an error response. */
export type HostAnswer = { action?: unknown; content?: Record<string, unknown> | undefined } | "error";

/** The `t` claim of a question's id: no tool is called this, so an id never passes as a requestState. */
const QUESTION = "elicitation/create";
const CHANNEL = "users_mcp_answers";

interface Listener {
  client: { query(text: string): Promise<unknown>; end(): Promise<void> };
}

export class QuestionBoard {
  /** Questions waiting on this replica's streams, by their nonce. */
  private readonly waiting = new Map<string, (answer: HostAnswer) => void>();
  private listening: Promise<Listener | undefined> | undefined;

  constructor(
    private readonly database: Database | undefined,
    private readonly databaseUrl: string | undefined,
    private readonly logger: Logger,
  ) {}

  /** A new question: its id (to send as the request's id), the answer when it comes, and `close` when done waiting. */
  async open(states: ConfirmStates, caller: Caller, ttlMs: number): Promise<{ id: string; answer: Promise<HostAnswer>; close(): void }> {
    if (this.database) await this.listen();
    const id = states.seal(
      { tool: QUESTION, record: "", request: "", change: "", seen: {}, tenant: caller.tenant, actor: caller.actor?.sub },
      ttlMs,
    );
    const claims = states.open(id) as ConfirmClaims;
    let resolve: (answer: HostAnswer) => void = () => {};
    const answer = new Promise<HostAnswer>((r) => {
      resolve = r;
    });
    this.waiting.set(claims.nonce, resolve);
    return { id, answer, close: () => this.waiting.delete(claims.nonce) };
  }

  /**
   * Takes an answer POSTed to this replica. Undefined when it was handed to the waiting question; else
   * words for the JSON-RPC error (unknown, expired, spent, another caller's, or nowhere to go).
   */
  async deliver(states: ConfirmStates, id: unknown, caller: Caller, answer: HostAnswer): Promise<string | undefined> {
    const claims = typeof id === "string" ? states.open(id) : "malformed";
    if (typeof claims === "string" || claims.tool !== QUESTION)
      return "this is no answer to a question this server is asking (unknown or expired id); nothing was changed";
    if (claims.tenant !== caller.tenant || claims.actor !== caller.actor?.sub)
      return "this question was asked to another caller; its answer must come with that caller's credentials. Nothing was changed";
    try {
      if (!(await states.spend(claims))) return "this question was answered already; an answer counts once. Nothing was changed";
    } catch (err) {
      return `the answer cannot be recorded right now (${(err as Error).message}); nothing was changed`;
    }
    const here = this.waiting.get(claims.nonce);
    if (here) {
      this.waiting.delete(claims.nonce);
      here(answer);
      return undefined;
    }
    if (!this.database)
      return "no question with this id is waiting on this server: the answer must reach the replica that asked (sticky sessions), unless replicas share USERS_MCP_DATABASE_URL. Nothing was changed";
    try {
      await this.database.query("SELECT pg_notify($1, $2)", [CHANNEL, JSON.stringify({ nonce: claims.nonce, answer })]);
      return undefined;
    } catch (err) {
      return `the answer cannot be passed to the replica that asked right now (${(err as Error).message}); nothing was changed`;
    }
  }

  /** Listens for answers that land on other replicas (one connection of its own, made on the first question). */
  private listen(): Promise<Listener | undefined> {
    this.listening ??= this.connect().catch((err: unknown) => {
      this.logger.warn(`answers: cannot listen for answers posted to other replicas: ${(err as Error).message}`);
      this.listening = undefined;
      return undefined;
    });
    return this.listening;
  }

  private async connect(): Promise<Listener> {
    const { default: pg } = await import("pg");
    const client = new pg.Client({ connectionString: this.databaseUrl, application_name: "users-mcp answers", keepAlive: true });
    const lost = () => {
      this.listening = undefined; // the next question listens again
      void client.end().catch(() => {});
    };
    client.on("error", lost);
    client.on("end", lost);
    client.on("notification", (m) => {
      if (m.channel !== CHANNEL || !m.payload) return;
      try {
        const { nonce, answer } = JSON.parse(m.payload) as { nonce?: unknown; answer?: HostAnswer };
        const waiting = typeof nonce === "string" ? this.waiting.get(nonce) : undefined;
        if (waiting && answer !== undefined) {
          this.waiting.delete(nonce as string);
          waiting(answer);
        }
      } catch {
        // not one of ours
      }
    });
    await client.connect();
    await client.query(`LISTEN ${CHANNEL}`);
    return { client };
  }

  async close(): Promise<void> {
    const l = await this.listening?.catch(() => undefined);
    this.listening = undefined;
    await l?.client.end().catch(() => {});
  }
}
