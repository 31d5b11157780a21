import { type Database, DatabaseBusy, DatabaseUnavailable, SchemaProblem } from "../audit/database.js";
import { type CallContext, raceAbort } from "../client/call-context.js";
import { RefusalError } from "../kernel/refusal.js";

/**
 * Writes to one record run one after another: each takes its turn from the read through the verified
 * write, so it reads what the one before it left. Writes to different records do not wait for each
 * other. A waiting call keeps its own deadline and cancellation: when its signal aborts it leaves the
 * queue (the ones behind it move up when its turn would have come) and never writes.
 */
export class RecordQueues implements RecordTurns {
  /** Per record: the promise that settles when the last call queued on it has finished. */
  private readonly tails = new Map<string, Promise<void>>();

  /** Waits for this record's turn; resolves with the function that ends it. Rejects with the signal's reason. */
  async turn(key: string, signal: AbortSignal): Promise<() => void> {
    const before = this.tails.get(key);
    let done!: () => void;
    const mine = new Promise<void>((resolve) => {
      done = resolve;
    });
    const tail = before ? before.then(() => mine) : mine;
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    if (before) {
      try {
        await raceAbort(before, signal);
      } catch (err) {
        void before.then(done); // our turn passes straight on to whoever is behind us
        throw err;
      }
    } else if (signal.aborted) {
      done();
      throw signal.reason;
    }
    return done;
  }

  async hold<T>(key: string, ctx: CallContext, fn: () => Promise<T>, stopped: (err: unknown) => Error): Promise<T> {
    let done: () => void;
    try {
      done = await this.turn(key, ctx.signal);
    } catch (err) {
      throw stopped(err);
    }
    try {
      return await fn();
    } finally {
      done();
    }
  }
}

/** Takes a record's turn: in this process (RecordQueues), or across every replica that shares a database. */
export interface RecordTurns {
  /**
   * Runs `fn` in the record's turn, ending the turn when it settles. A failure to get the turn (the
   * call's deadline or cancellation came first) is thrown as `stopped(err)` makes it; a database that
   * cannot serialize the write is a RefusalError that says why.
   */
  hold<T>(key: string, ctx: CallContext, fn: () => Promise<T>, stopped: (err: unknown) => Error): Promise<T>;
}

/** How often a waiting write asks the database again for a record's lock. */
const LOCK_POLL_MS = 10;

/**
 * Writes to one record serialized across every replica that shares the database: after its turn in
 * this process, a write takes one connection (Database.hold) and, on it, a session advisory lock on a
 * hash of the record's key (provider, the credential's account, the record id), from the read to the
 * verified write. Every statement of the write (its audit records too) goes over that one connection,
 * so a write never holds one connection while waiting for another: writes cannot starve the pool. The
 * lock is released on every path (and with the session, should the connection break); waiting for the
 * connection and the lock is bounded by the call's deadline and cancellation. A database that is full
 * answers "busy, try again in N s"; one that is down refuses the write, naming it.
 */
export class DatabaseLocks implements RecordTurns {
  private readonly local = new RecordQueues();

  constructor(private readonly db: Database) {}

  async hold<T>(key: string, ctx: CallContext, fn: () => Promise<T>, stopped: (err: unknown) => Error): Promise<T> {
    return this.local.hold(
      key,
      ctx,
      async () => {
        let locked = false;
        // The write needs time once it has its connection (a read and a write upstream): waiting for one
        // stops short of the deadline and answers "busy", rather than starting a write that cannot finish.
        // A write whose turn came late (it queued behind others on this record) still tries, to its deadline.
        const reserved = ctx.deadline - Math.min(5_000, Math.floor(ctx.timeoutMs / 3));
        const waitUntil = Date.now() < reserved ? reserved : ctx.deadline;
        try {
          return await this.db.hold(waitUntil, ctx.signal, async () => {
            for (;;) {
              const { rows } = await this.db.query<{ ok: boolean }>(
                "SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS ok",
                [key],
                ctx.deadline,
              );
              if (rows[0]?.ok) break;
              if (ctx.signal.aborted) throw stopped(ctx.signal.reason);
              await new Promise((resolve) => setTimeout(resolve, LOCK_POLL_MS));
              if (ctx.signal.aborted) throw stopped(ctx.signal.reason);
            }
            locked = true;
            try {
              return await fn();
            } finally {
              // On failure the connection is dropped by Database.hold, and the lock goes with the session.
              await this.db.query("SELECT pg_advisory_unlock(hashtextextended($1, 0))", [key]);
            }
          });
        } catch (err) {
          if (locked) throw err; // the write's own outcome
          throw refusal(err, stopped);
        }
      },
      stopped,
    );
  }
}

/** Why a write could not take its turn through the database, in words an agent can act on. */
function refusal(err: unknown, stopped: (err: unknown) => Error): Error {
  if (err instanceof DatabaseBusy)
    return new RefusalError(
      `Busy: ${err.message}. Writes to one record are serialized across replicas through it, so nothing was sent upstream. Try the write again in ${err.retryAfterSeconds} s.`,
    );
  if (err instanceof DatabaseUnavailable || err instanceof SchemaProblem)
    return new RefusalError(
      `Refused: ${err.message}. Writes to one record are serialized across replicas through it, so nothing was sent upstream. Reads still work; try the write again when the database is back.`,
    );
  if (err instanceof RefusalError) return err;
  return stopped(err);
}
