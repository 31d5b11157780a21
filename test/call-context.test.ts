/**
 * The call budget: one shared deadline timer and one list of live calls stand in for a timer and a
 * listener per call, so these tests pin what each call must still see: its own deadline, its own
 * cancellation, its own server's shutdown, and nothing after it has ended.
 */
import { describe, expect, it } from "vitest";
import { createCallContext } from "../src/client/call-context.js";

const abortedAt = (signal: AbortSignal, started: number) =>
  new Promise<number>((resolve) => signal.addEventListener("abort", () => resolve(Date.now() - started), { once: true }));

describe("call deadlines", () => {
  it("aborts a call at its deadline as a timeout, not a cancellation", async () => {
    const started = Date.now();
    const ctx = createCallContext(40);
    const ms = await abortedAt(ctx.signal, started);
    expect(ms).toBeGreaterThanOrEqual(39);
    expect(ms).toBeLessThan(2_000); // a loaded machine delays timers; no deadline is missed by seconds
    expect((ctx.signal.reason as DOMException).name).toBe("TimeoutError");
    expect(ctx.cancelled()).toBe(false);
    ctx.dispose();
  });

  it("meets an earlier deadline made after a later one", async () => {
    const started = Date.now();
    // Far apart, so that a loaded machine's timer lag cannot make the two meet.
    const late = createCallContext(2_000);
    const early = createCallContext(30);
    const earlyMs = await abortedAt(early.signal, started);
    expect(earlyMs).toBeLessThan(1_500);
    expect(late.signal.aborted).toBe(false);
    const lateMs = await abortedAt(late.signal, started);
    expect(lateMs).toBeGreaterThanOrEqual(1_999);
    late.dispose();
    early.dispose();
  });

  it("leaves a call alone once it has ended, and still times out the calls around it", async () => {
    const started = Date.now();
    const calls = Array.from({ length: 300 }, (_, i) => createCallContext(30 + (i % 3) * 10));
    const ended = calls.filter((_, i) => i % 2 === 0);
    for (const c of ended) c.dispose();
    const live = calls.filter((_, i) => i % 2 === 1);
    const times = await Promise.all(live.map((c) => abortedAt(c.signal, started)));
    expect(Math.min(...times)).toBeGreaterThanOrEqual(29);
    expect(Math.max(...times)).toBeLessThan(2_000);
    expect(ended.every((c) => !c.signal.aborted)).toBe(true);
    for (const c of live) c.dispose();
  });
});

describe("call cancellation", () => {
  it("follows the request's signal, and says the client cancelled", () => {
    const request = new AbortController();
    const ctx = createCallContext(10_000, request.signal);
    request.abort(new Error("client said stop"));
    expect(ctx.signal.aborted).toBe(true);
    expect((ctx.signal.reason as Error).message).toBe("client said stop");
    expect(ctx.cancelled()).toBe(true);
    ctx.dispose();
  });

  it("starts cancelled when the request was already cancelled", () => {
    const request = new AbortController();
    request.abort();
    const ctx = createCallContext(10_000, request.signal);
    expect(ctx.signal.aborted).toBe(true);
    expect(ctx.cancelled()).toBe(true);
  });

  it("does not follow the request's signal after the call has ended", async () => {
    const request = new AbortController();
    const ctx = createCallContext(30, request.signal);
    ctx.dispose();
    request.abort();
    // A witness made after it with the same deadline: once the witness has fired, ctx's deadline has passed too.
    const witness = createCallContext(30);
    await abortedAt(witness.signal, Date.now());
    expect(ctx.signal.aborted).toBe(false);
  });

  it("cancels only the calls of the server that is shutting down", () => {
    const shutdownA = new AbortController();
    const shutdownB = new AbortController();
    const a = [createCallContext(10_000, undefined, shutdownA.signal), createCallContext(10_000, undefined, shutdownA.signal)];
    const b = createCallContext(10_000, undefined, shutdownB.signal);
    const endedA = createCallContext(10_000, undefined, shutdownA.signal);
    endedA.dispose();
    shutdownA.abort(new Error("shutting down"));
    expect(a.every((c) => c.signal.aborted && c.cancelled())).toBe(true);
    expect(b.signal.aborted).toBe(false);
    expect(endedA.signal.aborted).toBe(false);
    const late = createCallContext(10_000, undefined, shutdownA.signal);
    expect(late.signal.aborted).toBe(true);
    for (const c of [...a, b, late]) c.dispose();
  });
});
