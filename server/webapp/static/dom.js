// Tiny DOM helpers. Every text goes through textContent / text nodes: the app never parses
// strings as markup (the CSP's Trusted Types rule would refuse it anyway).

/** The attributes of a table's wrapper: on a phone the table scrolls sideways inside it, so a
 * keyboard must be able to focus and scroll it (axe: scrollable-region-focusable). A named
 * group, not a region: the section around it is already the region of that name, and a second
 * one would make a lookup of the section by its name ambiguous. */
export function tableWrap(label) {
  return { class: "table-wrap", role: "group", tabindex: "0", "aria-label": label };
}

/** h("button", {class: "x", onclick: fn}, "Label", child) -> an element. */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "class") {
      el.className = value;
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else if (key === "value" || (key in el && typeof value !== "string")) {
      el[key] = value;
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace an element's children. */
export function render(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let uid = 0;
/** A unique id for label/for and aria-describedby pairs. */
export function nextId(prefix = "f") {
  uid += 1;
  return `${prefix}-${uid}`;
}

/** A labelled input: [label, input] with the label's `for` set. */
export function field(label, attrs = {}) {
  const id = attrs.id || nextId();
  const input = h(attrs.tag || "input", { ...attrs, tag: undefined, id });
  return { label: h("label", { for: id }, label), input };
}

export function toast(text) {
  const el = document.getElementById("toast");
  el.textContent = text;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { el.textContent = ""; }, 4000);
}

export function formatDate(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

/** A random id for client_message_id / client_attempt_id (retries store one copy). */
export function clientId() {
  return crypto.randomUUID();
}

/** An error's human message (ApiError or a network failure). */
export function messageOf(err) {
  if (err && err.message) return err.message;
  return "Something went wrong. Please try again.";
}
