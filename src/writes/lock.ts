import { raceAbort } from "../client/call-context.js";

/**
 * Writes to one record run one after another: each takes its turn from the read through the verified
 * write, so it reads what the one before it left. Writes to different records do not wait for each
 * other. A waiting call keeps its own deadline and cancellation: when its signal aborts it leaves the
 * queue (the ones behind it move up when its turn would have come) and never writes.
 */
export class RecordQueues {
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
