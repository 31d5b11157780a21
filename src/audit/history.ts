import { type FileHandle, open } from "node:fs/promises";
import { type Actor, type AuditOutcome, type AuditRecord, type Confirmation, parseAuditLine, recordBasics } from "./log.js";

/**
 * One write as list_writes and revert_write see it: its intent and outcome joined, without its
 * changes (they are read from the log by position when asked for), so that a log of 100,000 writes
 * costs a few megabytes to index.
 */
export interface IndexedWrite {
  id: string;
  time: string;
  tool: string;
  provider: string;
  target: string;
  tenant: string | undefined;
  /** Who made it (OAuth). */
  actor?: Actor | undefined;
  sandbox: boolean;
  outcome: AuditOutcome;
  confirmation: Confirmation;
  revertOf: string | undefined;
  /** Where in the file the line holding its changes starts, and its length in bytes. */
  at: number;
  length: number;
  /** The id of an applied write that undid this one. */
  revertedBy?: string;
}

export interface WriteQuery {
  target?: string | undefined;
  tool?: string | undefined;
  since?: number | undefined;
  limit: number;
  /** Only this tenant's writes (undefined: writes made without caller credentials). */
  tenant: string | undefined;
  sandbox: boolean;
}

/** What list_writes and revert_write read: the file's index, or the audit table. */
export interface WriteHistory {
  /** Catches up with what was recorded since the last call. */
  sync(): Promise<void>;
  /** One write by id, if it is the given tenant's (an id of another tenant is no write at all to it). */
  find(id: string, tenant: string | undefined, sandbox: boolean): Promise<IndexedWrite | undefined>;
  /** Recent writes, newest first. */
  query(q: WriteQuery): Promise<IndexedWrite[]>;
  /** The changes each write recorded. */
  changes(writes: readonly IndexedWrite[]): Promise<Array<AuditRecord["changes"]>>;
}

/** Bytes read at a time while catching up with the file. */
const CHUNK = 1024 * 1024;

/**
 * An index of the audit log, kept in step with the file: the first query reads it whole, every later
 * one reads only what was appended since (a few bytes after a write), so list_writes and revert_write
 * never rescan a large log. A file that shrank (rotated or replaced) is indexed afresh.
 */
export class AuditIndex implements WriteHistory {
  private readonly byId = new Map<string, IndexedWrite>();
  private readonly order: IndexedWrite[] = [];
  /** Bytes of the file indexed: always the end of a whole line. */
  private offset = 0;
  private syncing: Promise<void> | undefined;

  constructor(readonly path: string) {}

  /** Reads what was appended to the log since the last call. Resolves when the index is current. */
  sync(): Promise<void> {
    this.syncing ??= this.catchUp().finally(() => {
      this.syncing = undefined;
    });
    return this.syncing;
  }

  get size(): number {
    return this.order.length;
  }

  private async catchUp(): Promise<void> {
    let handle: FileHandle;
    try {
      handle = await open(this.path, "r");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return this.reset();
      throw err;
    }
    try {
      const { size } = await handle.stat();
      if (size < this.offset) this.reset();
      let carry = Buffer.alloc(0);
      let position = this.offset;
      while (position < size) {
        const buffer = Buffer.allocUnsafe(Math.min(CHUNK, size - position));
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, position);
        if (bytesRead === 0) break;
        const data = carry.length ? Buffer.concat([carry, buffer.subarray(0, bytesRead)]) : buffer.subarray(0, bytesRead);
        const start = position - carry.length;
        position += bytesRead;
        let lineStart = 0;
        for (let nl = data.indexOf(10); nl !== -1; nl = data.indexOf(10, lineStart)) {
          this.add(data.subarray(lineStart, nl), start + lineStart);
          lineStart = nl + 1;
        }
        carry = Buffer.from(data.subarray(lineStart));
        this.offset = start + lineStart;
      }
    } finally {
      await handle.close();
    }
  }

  private reset(): void {
    this.byId.clear();
    this.order.length = 0;
    this.offset = 0;
  }

  private add(line: Buffer, at: number): void {
    const r = parseAuditLine(line.toString("utf8"));
    if (!r) return;
    const known = this.byId.get(r.id);
    if (r.phase === "intent" || !known) {
      const entry = this.entryOf(r, at, line.length);
      if (known) Object.assign(known, entry);
      else {
        this.byId.set(r.id, entry);
        this.order.push(entry);
      }
    } else {
      known.outcome = r.outcome ?? "unknown";
      known.confirmation = r.confirmation;
    }
    const written = this.byId.get(r.id);
    if (written && r.phase === "outcome" && r.outcome === "applied" && r.revertOf) {
      const undone = this.byId.get(r.revertOf);
      if (undone) undone.revertedBy = r.id;
    }
  }

  private entryOf(r: AuditRecord, at: number, length: number): IndexedWrite {
    return {
      ...recordBasics(r),
      tenant: r.tenant,
      ...(r.actor ? { actor: r.actor } : {}),
      sandbox: r.sandbox === true,
      outcome: r.phase === "intent" ? "unknown" : (r.outcome ?? "unknown"),
      revertOf: r.revertOf,
      at,
      length,
    };
  }

  /** One write by id, if it is the given tenant's (an id of another tenant is no write at all to it). */
  async find(id: string, tenant: string | undefined, sandbox: boolean): Promise<IndexedWrite | undefined> {
    const w = this.byId.get(id);
    return w && w.tenant === tenant && w.sandbox === sandbox ? w : undefined;
  }

  /** Recent writes, newest first. */
  async query(q: WriteQuery): Promise<IndexedWrite[]> {
    const out: IndexedWrite[] = [];
    for (let i = this.order.length - 1; i >= 0 && out.length < q.limit; i--) {
      const w = this.order[i] as IndexedWrite;
      if (w.tenant !== q.tenant || w.sandbox !== q.sandbox) continue;
      if (q.target !== undefined && w.target !== q.target) continue;
      if (q.tool !== undefined && w.tool !== q.tool) continue;
      if (q.since !== undefined && Date.parse(w.time) < q.since) continue;
      out.push(w);
    }
    return out;
  }

  /** The changes each write recorded, read from its line in the log (one open for them all). */
  async changes(writes: readonly IndexedWrite[]): Promise<Array<AuditRecord["changes"]>> {
    if (writes.length === 0) return [];
    const handle = await open(this.path, "r");
    try {
      const out: Array<AuditRecord["changes"]> = [];
      for (const w of writes) {
        const buffer = Buffer.alloc(w.length);
        await handle.read(buffer, 0, w.length, w.at);
        out.push(parseAuditLine(buffer.toString("utf8"))?.changes ?? []);
      }
      return out;
    } finally {
      await handle.close();
    }
  }
}
