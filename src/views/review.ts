/// <reference lib="dom" />
import { badge, h, show, valueNode, words } from "./dom.js";
import { type Change, CREDENTIALS, LABELS, type NamedRecord, PLATFORM, riskOf, TOOL_PROVIDER, type WriteResult } from "./model.js";

/** What a view may ask of the host: call a tool of this server, send the model a message, update its context. */
export interface ReviewHost {
  call(
    name: string,
    args: Record<string, unknown>,
  ): Promise<{ ok: boolean; text: string; data: Record<string, unknown>; record: NamedRecord | undefined }>;
  canMessage(): boolean;
  message(text: string): Promise<void>;
  tellModel(text: string): Promise<void>;
}

export interface Review {
  /** The tool that made this result, and that Apply calls again. */
  tool: string;
  /** Its arguments, as the host passed them: Apply sends them again with the preview token. */
  args: Record<string, unknown>;
  result: WriteResult;
  record: NamedRecord | undefined;
  /** Shown under the outcome: the way back to where the review was opened from (the history's Undo). */
  back?: { label: string; go(): void } | undefined;
}

/** The review view: a dry run's change as a table, before and after, with Apply and Cancel; or a write's outcome. */
export function renderReview(root: Element, host: ReviewHost, review: Review): void {
  const { result } = review;
  if (!result.dryRun) {
    renderOutcome(root, review, { ok: true, text: result.message ?? "", data: result as Record<string, unknown> });
    return;
  }
  const changes = result.changed ?? [];
  const risky = changes.some((c) => riskOf(c));
  const status = h("p", { role: "status", class: "muted" });
  const apply = h("button", { type: "button", class: risky ? "primary danger" : "primary" }, "Apply");
  const cancel = h("button", { type: "button" }, "Cancel");
  const actions = result.previewToken ? h("div", { class: "actions" }, apply, cancel) : null;

  apply.addEventListener("click", async () => {
    apply.disabled = cancel.disabled = true;
    show(status, "Applying…");
    const args = { ...review.args, dryRun: false, previewToken: result.previewToken };
    try {
      const r = await host.call(review.tool, args);
      renderOutcome(root, { ...review, record: r.record ?? review.record }, r);
    } catch (err) {
      apply.disabled = cancel.disabled = false;
      show(status, h("span", { class: "error", role: "alert" }, `The host could not make the call: ${(err as Error).message}`));
    }
  });
  cancel.addEventListener("click", () => {
    apply.disabled = cancel.disabled = true;
    if (actions) actions.hidden = true;
    show(status, h("strong", {}, "Cancelled."), " Nothing was written.");
    status.focus();
    void host
      .tellModel(`The person cancelled this change in the review (${review.tool}); nothing was written. Do not apply it.`)
      .catch(() => {});
    if (review.back) status.append(" ", backButton(review.back));
  });
  status.tabIndex = -1;

  show(
    root,
    h(
      "section",
      { class: "card", "aria-labelledby": "review-title" },
      h("h1", { id: "review-title" }, review.tool === "revert_write" ? "Review the undo" : "Review the change"),
      recordLine(review),
      changes.length ? changeTable(changes, "Would change") : h("p", {}, "Nothing would change: the record already has these values."),
      warningList(result.warnings),
      actions,
      status,
      actions
        ? h(
            "p",
            { class: "fine" },
            "Apply sends this exact change with its preview token: if the record moved since, nothing is written. The server may still ask you to confirm.",
          )
        : null,
    ),
  );
}

/** After Apply (or a write made without a preview): what happened, and the audit id. */
function renderOutcome(root: Element, review: Review, r: { ok: boolean; text: string; data: Record<string, unknown> }): void {
  const d = r.data as WriteResult;
  let title: string;
  let kind: "success" | "warning" | "danger";
  if (!r.ok) [title, kind] = [/^Conflict/.test(r.text) ? "Conflict: nothing was written" : "Not written", "danger"];
  else if (d.applied) [title, kind] = ["Applied", "success"];
  else if ((d.changed ?? []).length === 0) [title, kind] = ["Nothing changed", "warning"];
  else [title, kind] = ["Not written", "warning"];
  const heading = h("h1", { tabindex: -1 }, badge(title, kind));
  const moved = !r.ok ? r.text.split("\n").filter((l) => l.startsWith("- ")) : [];
  show(
    root,
    h(
      "section",
      { class: "card", "aria-labelledby": "outcome-title" },
      heading,
      recordLine(review),
      h("p", { id: "outcome-title", role: "status", class: r.ok ? "" : "error pre" }, r.ok ? (d.message ?? "") : r.text.split("\n")[0]),
      moved.length ? h("ul", { class: "moved", "aria-label": "Fields that moved" }, ...moved.map((l) => h("li", {}, l.slice(2)))) : null,
      r.ok && d.applied && d.changed?.length ? changeTable(d.changed, "Changed") : null,
      warningList(d.warnings),
      d.auditId ? h("p", { class: "fine" }, "Audit id ", h("code", {}, d.auditId)) : null,
      review.back ? h("div", { class: "actions" }, backButton(review.back)) : null,
    ),
  );
  heading.focus();
}

function backButton(back: { label: string; go(): void }): HTMLButtonElement {
  return h("button", { type: "button", onclick: () => back.go() }, back.label);
}

/** Whose record, on which platform, with its id. */
function recordLine(review: Review): HTMLElement {
  const r = review.record;
  const platform = PLATFORM[r?.provider ?? TOOL_PROVIDER[review.tool] ?? ""] ?? "";
  if (!r) return h("p", { class: "muted" }, platform ? `${platform} record` : "");
  return h(
    "p",
    { class: "record" },
    h("strong", {}, r.name),
    h("span", { class: "muted" }, ` · ${PLATFORM[r.provider] ?? r.provider} user `),
    h("code", {}, r.id),
  );
}

/** The changed fields, one row each: before and after, and why a row matters. Credentials: "will change", never a value. */
function changeTable(changes: Change[], caption: string): HTMLElement {
  return h(
    "table",
    {},
    h("caption", {}, caption),
    h(
      "thead",
      {},
      h("tr", {}, h("th", { scope: "col" }, "Field"), h("th", { scope: "col" }, "Before"), h("th", { scope: "col" }, "After")),
    ),
    h(
      "tbody",
      {},
      ...changes.map((c) => {
        const risk = riskOf(c);
        const secret = CREDENTIALS.has(c.field);
        return h(
          "tr",
          { class: risk ? `risk ${risk.kind}` : undefined, "data-field": c.field },
          h(
            "th",
            { scope: "row" },
            h("span", {}, LABELS[c.field] ?? words(c.field)),
            " ",
            h("code", { class: "field" }, c.field),
            risk ? h("div", {}, badge(risk.text, risk.kind)) : null,
          ),
          h("td", {}, secret ? h("span", { class: "muted" }, "hidden") : valueNode(c.before)),
          h("td", {}, secret ? h("strong", {}, "will change") : valueNode(c.after)),
        );
      }),
    ),
  );
}

function warningList(warnings: string[] | undefined): HTMLElement | null {
  if (!warnings?.length) return null;
  return h(
    "div",
    { class: "warnings", role: "note", "aria-label": "Warnings" },
    h("h2", {}, "Warnings"),
    h("ul", {}, ...warnings.map((w) => h("li", {}, w))),
  );
}
