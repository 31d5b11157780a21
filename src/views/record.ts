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
/** Objects shown among the details rather than as a section of their own. */
const OTHER = new Set(["business", "currentBusiness", "currentOrganization", "roles"]);

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

  // Consents and compliance first: they are what a person checks before and after a change.
  const nested = Object.entries(user).filter(([k, v]) => isObject(v) && !HEAD.has(k) && !OTHER.has(k)) as Array<
    [string, Record<string, unknown>]
  >;
  nested.sort(([a], [b]) => Number(b === "compliance") - Number(a === "compliance"));
  const sections: Array<HTMLElement | null> = nested.map(([k, v]) => rows(LABELS[k] ?? words(k), v));
  if (d !== user)
    for (const [key, value] of Object.entries(d))
      if (key !== "user" && isObject(value)) sections.push(rows(key === "gdpr" ? "GDPR" : words(key), value));
  sections.push(rows("Details", Object.fromEntries(Object.entries(user).filter(([k, v]) => !isObject(v) || OTHER.has(k)))));

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

/** One section of the card: the object's fields that hold something, nested objects as a list of their own fields. */
function rows(title: string, o: Record<string, unknown>): HTMLElement | null {
  const items = Object.entries(o).filter(([k, v]) => !HEAD.has(k) && present(v));
  if (!items.length) return null;
  return h(
    "section",
    { class: "group" },
    h("h2", {}, title),
    h("dl", {}, ...items.flatMap(([k, v]) => [h("dt", {}, LABELS[k] ?? words(k)), h("dd", {}, field(k, v))])),
  );
}

/** Nothing to show: no value, an empty list or an object of nothing. A false consent is something. */
function present(v: unknown): boolean {
  if (v === null || v === undefined || v === "") return false;
  if (Array.isArray(v)) return v.length > 0;
  if (isObject(v)) return Object.values(v).some(present);
  return true;
}

function field(key: string, v: unknown): Node {
  if (typeof v === "string" && DATES.test(key)) return document.createTextNode(when(v));
  if (isObject(v)) {
    const entries = Object.entries(v).filter(([, x]) => present(x));
    return h("ul", { class: "values" }, ...entries.map(([k, x]) => h("li", {}, `${LABELS[k] ?? words(k)}: `, field(k, x))));
  }
  return valueNode(v);
}
