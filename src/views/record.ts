/// <reference lib="dom" />
import { h, show, valueNode, when, words } from "./dom.js";
import { LABELS, PLATFORM, TOOL_PROVIDER } from "./model.js";
import type { ReviewHost } from "./review.js";

interface RecordView {
  tool: string | undefined;
  data: Record<string, unknown>;
}

/** Fields shown in the card's heading rather than among its rows. */
const HEAD = new Set(["id", "name", "firstName", "lastName", "displayName", "email", "emailAddress"]);
const DATES = /(^date|At$|Date$)/;

/**
 * The record view: a person's record as a card, consents and licences as ticks and lists. It writes
 * nothing: "Ask to change" sends the model a message, where the host accepts one.
 */
export function renderRecord(root: Element, host: ReviewHost, view: RecordView): void {
  // get_gdpr_user answers { user, gdpr }; the others answer the user itself.
  const d = view.data;
  const user = (isObject(d.user) ? d.user : d) as Record<string, unknown>;
  const provider = TOOL_PROVIDER[view.tool ?? ""] ?? (isObject(d.gdpr) ? "twosms" : "compliance" in d ? "leadping" : "leadconnector");
  const platform = PLATFORM[provider] ?? provider;
  const fullName = [user.firstName, user.lastName].filter((v) => typeof v === "string" && v).join(" ");
  const name =
    text(user.name) ?? text(user.displayName) ?? (fullName || undefined) ?? text(user.email) ?? text(user.emailAddress) ?? "Unnamed user";
  const email = text(user.email) ?? text(user.emailAddress);
  const id = text(user.id);

  const sections: Array<HTMLElement | null> = [rows("Details", user)];
  for (const [key, value] of Object.entries(user))
    if (isObject(value) && !HEAD.has(key)) sections.push(rows(LABELS[key] ?? words(key), value));
  if (d !== user)
    for (const [key, value] of Object.entries(d))
      if (key !== "user" && isObject(value)) sections.push(rows(key === "gdpr" ? "GDPR" : words(key), value));

  const status = h("p", { role: "status", class: "muted" });
  const edit = host.canMessage()
    ? h(
        "button",
        {
          type: "button",
          onclick: async () => {
            await host.message(`I want to change the ${platform} record of ${name}${id ? ` (id ${id})` : ""}.`).then(
              () => show(status, "Sent to the chat: say what to change there."),
              (err: Error) => show(status, h("span", { class: "error" }, `The host did not take the message: ${err.message}`)),
            );
          },
        },
        "Ask to change this record",
      )
    : h("p", { class: "fine" }, "To change this record, ask in the chat: changes are made there, never from this card.");

  show(
    root,
    h(
      "section",
      { class: "card", "aria-labelledby": "record-title" },
      h("p", { class: "muted eyebrow" }, `${platform} user`),
      h("h1", { id: "record-title" }, name),
      h(
        "p",
        { class: "record" },
        email ? h("span", {}, email) : null,
        id ? h("span", { class: "muted" }, " · id ") : null,
        id ? h("code", {}, id) : null,
      ),
      ...sections,
      h("div", { class: "actions" }, edit),
      status,
    ),
  );
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const text = (v: unknown) => (typeof v === "string" && v ? v : undefined);

/** One section of the card: a description list of the object's plain fields (nested objects get their own section). */
function rows(title: string, o: Record<string, unknown>): HTMLElement | null {
  const items = Object.entries(o).filter(([k, v]) => !HEAD.has(k) && !isObject(v));
  if (!items.length) return null;
  return h(
    "section",
    { class: "group" },
    h("h2", {}, title),
    h(
      "dl",
      {},
      ...items.flatMap(([k, v]) => [
        h("dt", {}, LABELS[k] ?? words(k)),
        h("dd", {}, typeof v === "string" && DATES.test(k) ? when(v) : valueNode(v)),
      ]),
    ),
  );
}
