/// <reference lib="dom" />
import { badge, h, show, valueNode, when, words } from "./dom.js";
import { type HistoryEntry, LABELS, PLATFORM } from "./model.js";
import { type ReviewHost, renderReview } from "./review.js";

interface History {
  /** list_writes' arguments, to list again after an undo. */
  args: Record<string, unknown>;
  writes: HistoryEntry[];
}

const OUTCOME: Record<string, "success" | "warning" | "danger" | "info"> = {
  applied: "success",
  unchanged: "info",
  declined: "warning",
  conflict: "warning",
  failed: "danger",
  unknown: "danger",
};

/** The history view: who, when, which record, what changed, the outcome; Undo previews a revert_write and opens its review. */
export function renderHistory(root: Element, host: ReviewHost, history: History): void {
  const status = h("p", { role: "status", class: "muted" });
  const rows = history.writes.map((w) => {
    const undoable = w.outcome === "applied" && !w.revertedBy;
    const undo = undoable
      ? h("button", { type: "button", "aria-label": `Undo write ${w.auditId} (${w.tool} on ${w.target})` }, "Undo")
      : null;
    undo?.addEventListener("click", async () => {
      undo.disabled = true;
      show(status, "Previewing the undo…");
      const r = await host
        .call("revert_write", { auditId: w.auditId, dryRun: true })
        .catch((err: Error) => ({ ok: false, text: err.message, data: {} as Record<string, unknown>, record: undefined }));
      if (!r.ok) {
        undo.disabled = false;
        show(status, h("span", { class: "error pre", role: "alert" }, r.text));
        return;
      }
      renderReview(root, host, {
        tool: "revert_write",
        args: { auditId: w.auditId },
        result: r.data,
        record: r.record,
        back: { label: "Back to the history", go: () => void relist(root, host, history.args) },
      });
    });
    return h(
      "tr",
      { "data-audit-id": w.auditId },
      h(
        "td",
        {},
        h("time", { datetime: w.time }, when(w.time)),
        w.by ? h("div", { class: "muted" }, w.by.name ?? w.by.email ?? w.by.sub) : null,
      ),
      h(
        "th",
        { scope: "row" },
        h("span", {}, `${PLATFORM[w.provider] ?? w.provider} user `),
        h("code", {}, w.target),
        h("div", { class: "muted" }, w.revertOf ? `undo of ${w.tool}` : w.tool),
      ),
      h("td", {}, changesList(w)),
      h("td", {}, badge(w.outcome, OUTCOME[w.outcome] ?? "info"), w.revertedBy ? h("div", { class: "muted" }, "undone") : null),
      h("td", {}, undo),
    );
  });
  show(
    root,
    h(
      "section",
      { class: "card", "aria-labelledby": "history-title" },
      h("h1", { id: "history-title" }, "Write history"),
      rows.length
        ? h(
            "table",
            {},
            h("caption", {}, `${rows.length} write${rows.length === 1 ? "" : "s"} made through this server, newest first`),
            h(
              "thead",
              {},
              h(
                "tr",
                {},
                ...["When", "Record", "What changed", "Outcome"].map((t) => h("th", { scope: "col" }, t)),
                h("th", { scope: "col" }, h("span", { class: "sr" }, "Undo")),
              ),
            ),
            h("tbody", {}, ...rows),
          )
        : h("p", {}, "No writes are on record yet."),
      status,
    ),
  );
}

function changesList(w: HistoryEntry): HTMLElement {
  if (!w.changes.length) return h("span", { class: "muted" }, "nothing");
  return h(
    "ul",
    { class: "changes" },
    ...w.changes.map((c) =>
      h(
        "li",
        {},
        h("span", {}, `${LABELS[c.field] ?? words(c.field)}: `),
        valueNode(c.before),
        h("span", { "aria-label": "to" }, " → "),
        valueNode(c.after),
      ),
    ),
  );
}

async function relist(root: Element, host: ReviewHost, args: Record<string, unknown>): Promise<void> {
  const r = await host
    .call("list_writes", args)
    .catch((err: Error) => ({ ok: false, text: err.message, data: {} as Record<string, unknown>, record: undefined }));
  if (!r.ok) {
    show(root, h("p", { class: "error pre", role: "alert" }, r.text));
    return;
  }
  renderHistory(root, host, { args, writes: (r.data.writes ?? []) as HistoryEntry[] });
}
