import type { PoolClient } from "pg";
import { type Database, DatabaseUnavailable, isConnectionError } from "../audit/database.js";
import { raceAbort } from "../client/call-context.js";
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
}

/** Takes a record's turn: in this process (RecordQueues), or across every replica that shares a database. */
export interface RecordTurns {
  turn(key: string, signal: AbortSignal): Promise<() => void>;
}

/** How often a waiting write asks the database again for a record's lock. */
const LOCK_POLL_MS = 10;

/**
 * Writes to one record serialized across every replica that shares the database: after its turn in
 * this process, a write holds a session advisory lock on a hash of the record's key (provider, the
 * credential's account, the record id) on a connection of its own, from the read to the verified write.
 * The lock is released on every path (and with the session, should the connection break); waiting for
 * it is bounded by the call's deadline and cancellation. No database, no write: it is refused, naming it.
 */
export class DatabaseLocks implements RecordTurns {
  private readonly local = new RecordQueues();

  constructor(private readonly db: Database) {}

  async turn(key: string, signal: AbortSignal): Promise<() => void> {
    const doneHere = await this.local.turn(key, signal);
    let client: PoolClient | undefined;
    try {
      await this.db.ready();
      const connecting = this.db.connect();
      client = await raceAbort(connecting, signal).catch((err: unknown) => {
        if (signal.aborted)
          void connecting.then(
            (c) => c.release(),
            () => {},
          ); // a connection that came too late goes back
        throw err;
      });
      for (;;) {
        const { rows } = await client.query<{ ok: boolean }>("SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS ok", [key]);
        if (rows[0]?.ok) break;
        if (signal.aborted) throw signal.reason;
        await new Promise((resolve) => setTimeout(resolve, LOCK_POLL_MS));
        if (signal.aborted) throw signal.reason;
      }
    } catch (err) {
      client?.release(err instanceof Error ? err : undefined);
      doneHere();
      if (err instanceof DatabaseUnavailable || (!signal.aborted && isConnectionError(err)))
        throw new RefusalError(
          `Refused: ${err instanceof DatabaseUnavailable ? err.message : this.db.down(err).message}. Writes to one record are serialized across replicas through it, so nothing was sent upstream. Reads still work; try the write again when the database is back.`,
        );
      throw err;
    }
    const held = client;
    return () => {
      held.query("SELECT pg_advisory_unlock(hashtextextended($1, 0))", [key]).then(
        () => held.release(),
        (err: unknown) => held.release(err instanceof Error ? err : new Error(String(err))),
      );
      doneHere();
    };
  }
}
