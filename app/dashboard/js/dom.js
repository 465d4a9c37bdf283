/**
 * Element builders. They only ever set text and attributes, never HTML, so strings coming from the
 * API (machine names, alert messages, notes) cannot inject markup.
 */

const SVG_NAMESPACE = "http://www.w3.org/2000/svg";

/** An HTML element: `h("a", { href: "#/x", onclick: fn }, "text", childNode, [more, children])`. */
export function h(tag, attributes = {}, ...children) {
  return build(document.createElement(tag), attributes, children);
}

/** An SVG element, same calling convention as `h`. */
export function svg(tag, attributes = {}, ...children) {
  return build(document.createElementNS(SVG_NAMESPACE, tag), attributes, children);
}

/** Replace everything inside `element` with `children` (nodes, strings, nested arrays; null is skipped). */
export function fill(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

/** A labelled `<select>` of `[value, text]` options: `control` to read, `field` (label and control) to place. */
export function select(id, label, options) {
  const control = h(
    "select",
    { id, name: id },
    options.map(([value, text]) => h("option", { value }, text)),
  );
  return { control, field: h("div", { class: "field" }, h("label", { for: id }, label), control) };
}

/** Text for screen readers only, e.g. the meaning of a colour or a symbol. */
export function screenReaderText(text) {
  return h("span", { class: "visually-hidden" }, text);
}

function build(element, attributes, children) {
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      element.addEventListener(name.slice(2), value);
    } else {
      element.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
}
