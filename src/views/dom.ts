/// <reference lib="dom" />
// The views build their DOM with this one helper. Every string a record, an upstream or the model
// gave goes in as a text node: a name like `<img src=x onerror=alert(1)>` shows as those characters.
// No innerHTML anywhere.

type Child = Node | string | number | false | null | undefined;
type Attrs = Record<string, string | number | boolean | ((event: Event) => void) | undefined>;

/** An element with attributes (strings, booleans; `on…` functions become listeners) and children as text or nodes. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    if (typeof value === "function") el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

export function append(parent: Node, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    parent.appendChild(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
  }
}

/** Replaces what `parent` shows. */
export function show(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, children);
}

/** A value as a person reads it: yes/no for booleans, a dash for nothing, lists one per line, objects as compact JSON. */
export function valueNode(value: unknown): Node {
  if (value === null || value === undefined || value === "") return h("span", { class: "none" }, "—");
  if (typeof value === "boolean")
    return h("span", { class: value ? "yes" : "no" }, h("span", { "aria-hidden": "true" }, value ? "✓ " : "✗ "), value ? "Yes" : "No");
  if (Array.isArray(value)) {
    if (value.length === 0) return h("span", { class: "none" }, "none");
    return h("ul", { class: "values" }, ...value.map((v) => h("li", {}, valueNode(v))));
  }
  if (typeof value === "object") {
    const o = value as Record<string, unknown>;
    const label = o.url ?? o.name ?? o.id;
    if (typeof label === "string") return document.createTextNode(label);
    const parts = Object.entries(o).filter(([, v]) => v !== null && v !== undefined && typeof v !== "object");
    return document.createTextNode(parts.map(([k, v]) => `${words(k)}: ${String(v)}`).join(", ") || JSON.stringify(value));
  }
  return document.createTextNode(String(value));
}

/** `acceptedSms` → "Accepted sms": field names read as words where no label is known. */
export function words(field: string): string {
  const s = field.replace(/([a-z0-9])([A-Z])/g, "$1 $2").replace(/[_-]+/g, " ");
  return s.charAt(0).toUpperCase() + s.slice(1).toLowerCase();
}

/** A badge: a short word that says why a row matters, read out by screen readers with the row. */
export function badge(text: string, kind: "danger" | "warning" | "info" | "success" = "info"): HTMLElement {
  return h("span", { class: `badge ${kind}` }, text);
}

export function when(iso: unknown): string {
  if (typeof iso !== "string") return "—";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}
