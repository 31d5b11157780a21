import { isServerSecret, MIN_SECRET_LENGTH, redact, type ScopedSecrets } from "../kernel/redact.js";

/**
 * Where a call's secret is scrubbed: a credential it sends ("everywhere": results, errors, audit), or
 * a password or PIN it writes ("errors": only text an upstream may echo it in). A written value is
 * often short (a four-digit PIN), and the record's own data (a year, a house number) must not lose
 * digits for it; the upstreams never return a credential in a successful answer.
 */
export type SecretScope = "everywhere" | "errors";

/**
 * A tool call's budget: one deadline and one signal shared by every request the call makes
 * (a read-modify-write is two requests, a 2SMS call may add a token request).
 */
export interface CallContext {
  signal: AbortSignal;
  /** Epoch milliseconds after which no request may start or continue. */
  deadline: number;
  timeoutMs: number;
  /** True when the MCP client cancelled the call (or the server is shutting down). */
  cancelled(): boolean;
  /** Requests that were retried during this call, for the tool to report. */
  retries: Array<{ method: string; path: string; reason: string }>;
  /** The upstream's request id of the last response this call received, when it sent one. */
  requestId: string | undefined;
  /** Takes the call off the deadline and shutdown watch; call it when the call has ended. */
  dispose(): void;
  /**
   * Stops the deadline clock (while a person is asked to confirm: their time is not the upstream's)
   * and returns the function that restarts it with the time that was left. Cancellation still applies.
   */
  pauseDeadline(): () => void;
  /**
   * Remembers a credential this call sends (a token, a client secret, a password or PIN being written),
   * so that text echoing it back (an upstream's error body) is scrubbed in this call's outputs. Scoped to
   * the call: gone with it, never seen by another call.
   */
  keepSecret(value: string | null | undefined, where?: SecretScope): void;
  /** This call's own credentials (besides the server's), for cleaning what the call returns. */
  readonly secrets: ScopedSecrets;
  /** Text with the server's and this call's secrets replaced. */
  scrub(text: string): string;
}

/**
 * One call's budget. The live calls form one linked list, which serves both the deadline (a single
 * timer, armed for the earliest deadline, sweeps the list) and a shutdown (one listener per shutdown
 * signal walks it). A call therefore allocates no timer, no closures and no set entry: under a burst
 * of calls, per-call objects that live until the call ends are what makes the young generation grow.
 */
class Call implements CallContext {
  readonly signal: AbortSignal;
  deadline: number;
  readonly retries: CallContext["retries"] = [];
  requestId: string | undefined = undefined;
  /** Links in the list of live calls. */
  prev: Call | undefined;
  next: Call | undefined;
  live = false;
  private readonly controller = new AbortController();
  private byClient = false;
  /** Made on the first secret kept: most calls (server credentials, reads) never need it. */
  private kept: string[] | undefined;
  private written: string[] | undefined;

  constructor(
    private readonly registry: LiveCalls,
    readonly timeoutMs: number,
    private readonly parent: AbortSignal | undefined,
    readonly shutdown: AbortSignal | undefined,
  ) {
    this.signal = this.controller.signal;
    this.deadline = Date.now() + timeoutMs;
    if (parent?.aborted) this.cancel(parent);
    else if (shutdown?.aborted) this.cancel(shutdown);
    else {
      parent?.addEventListener("abort", this, { once: true });
      if (shutdown) registry.watchShutdown(shutdown);
      registry.enlist(this);
    }
  }

  cancelled(): boolean {
    return this.byClient;
  }

  get secrets(): ScopedSecrets {
    return this.kept;
  }

  keepSecret(value: string | null | undefined, where: SecretScope = "everywhere"): void {
    if (typeof value !== "string" || value.length < MIN_SECRET_LENGTH || isServerSecret(value)) return;
    if (where === "errors") {
      this.written ??= [];
      if (!this.written.includes(value)) this.written.push(value);
    } else {
      this.kept ??= [];
      if (!this.kept.includes(value)) this.kept.push(value);
    }
  }

  scrub(text: string): string {
    const out = redact(text, this.kept);
    return this.written ? redact(out, this.written) : out;
  }

  /** The parent (request) signal's abort listener: an object listener needs no closure. */
  handleEvent(): void {
    if (this.parent) this.cancel(this.parent);
  }

  cancel(from: AbortSignal): void {
    if (this.signal.aborted) return;
    this.byClient = true;
    this.abort(from.reason);
  }

  expire(): void {
    this.abort(new DOMException("The call's deadline passed", "TimeoutError"));
  }

  pauseDeadline(): () => void {
    if (!this.live || this.deadline === Number.POSITIVE_INFINITY) return () => {};
    const left = Math.max(0, this.deadline - Date.now());
    // Still listed, so a shutdown reaches it; an infinite deadline is never swept.
    this.deadline = Number.POSITIVE_INFINITY;
    return () => {
      if (!this.live) return;
      this.deadline = Date.now() + left;
      this.registry.rearm(this.deadline);
    };
  }

  dispose(): void {
    this.registry.delist(this);
    // Measured under a burst of calls: leaving this listener on the request's signal (which the SDK
    // drops after the response) kept more objects alive into old space than removing it does.
    this.parent?.removeEventListener("abort", this);
  }

  private abort(reason: unknown): void {
    this.registry.delist(this);
    this.controller.abort(reason);
  }
}

/**
 * The calls under way of one runtime: a linked list that serves both the deadline (a single timer,
 * armed for the earliest deadline, sweeps it) and a shutdown (one listener per shutdown signal walks
 * it). The server's runtime holds one; a context made on its own gets a registry of its own.
 */
export class LiveCalls {
  private head: Call | undefined;
  private tail: Call | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** The deadline the timer is armed for. */
  private armedFor = Number.POSITIVE_INFINITY;
  /** Shutdown signals already listened to: one listener each, however many calls are in flight. */
  private readonly watched = new WeakSet<AbortSignal>();

  /** A call's budget on this registry (see createCallContext). */
  start(timeoutMs: number, signal?: AbortSignal, shutdown?: AbortSignal): CallContext {
    return new Call(this, timeoutMs, signal, shutdown);
  }

  enlist(call: Call): void {
    call.live = true;
    call.prev = this.tail;
    if (this.tail) this.tail.next = call;
    else this.head = call;
    this.tail = call;
    this.rearm(call.deadline);
  }

  delist(call: Call): void {
    if (!call.live) return;
    call.live = false;
    if (call.prev) call.prev.next = call.next;
    else this.head = call.next;
    if (call.next) call.next.prev = call.prev;
    else this.tail = call.prev;
    call.prev = call.next = undefined;
  }

  /** Arms the timer for `at` when that is earlier than what it is armed for. */
  rearm(at: number): void {
    if (at >= this.armedFor) return;
    if (this.timer) clearTimeout(this.timer);
    this.armedFor = at;
    this.timer = setTimeout(() => this.sweep(), Math.max(0, at - Date.now()));
    this.timer.unref();
  }

  /** Ends every call past its deadline and re-arms the timer for the earliest deadline left. */
  private sweep(): void {
    this.timer = undefined;
    this.armedFor = Number.POSITIVE_INFINITY;
    const now = Date.now();
    let earliest = Number.POSITIVE_INFINITY;
    for (let call = this.head; call; ) {
      const next = call.next;
      if (call.deadline <= now) call.expire();
      else if (call.deadline < earliest) earliest = call.deadline;
      call = next;
    }
    if (earliest < Number.POSITIVE_INFINITY) this.rearm(earliest);
  }

  watchShutdown(signal: AbortSignal): void {
    if (this.watched.has(signal)) return;
    this.watched.add(signal);
    signal.addEventListener(
      "abort",
      () => {
        for (let call = this.head; call; ) {
          const next = call.next;
          if (call.shutdown === signal) call.cancel(signal);
          call = next;
        }
      },
      { once: true },
    );
  }
}

/**
 * A call's budget: `timeoutMs` from now, cancelled when `signal` (the MCP request) or `shutdown`
 * aborts. Call `dispose()` when the call has ended.
 */
export function createCallContext(
  timeoutMs: number,
  signal?: AbortSignal,
  shutdown?: AbortSignal,
  calls: LiveCalls = new LiveCalls(),
): CallContext {
  return calls.start(timeoutMs, signal, shutdown);
}

/**
 * Settles with `pending`, or rejects with the signal's reason as soon as it aborts, whichever comes
 * first; a value that arrives after the abort goes to `discardLate`. HTTP requests need it because
 * undici does not act on an abort while a connection is still being set up (a TLS handshake that
 * never completes waits for the 10 s connect timeout); the 2SMS client races its shared token request.
 * (A callback slot on the call in place of this listener was tried: under a burst of calls it doubled
 * the bytes surviving minor GCs, for a reason not found.)
 */
export function raceAbort<T>(pending: Promise<T>, signal: AbortSignal, discardLate?: (late: T) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      pending.then(discardLate, () => {});
      reject(signal.reason);
    };
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    pending.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(err);
      },
    );
  });
}
