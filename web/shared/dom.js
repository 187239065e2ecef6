// Tiny DOM helpers (no framework). Everything is built with createElement and
// textContent: server text is never parsed as HTML.

/**
 * el('td', {class: 'kw', dataset: {corr: 'x'}}, 'text', childNode)
 * Attributes: class, dataset (object), hidden, title, type, disabled, aria-* ...
 */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k === 'dataset') Object.assign(node.dataset, v);
    else if (k === 'text') node.textContent = v;
    else if (v === true) node.setAttribute(k, '');
    else node.setAttribute(k, String(v));
  }
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

/** Sets textContent only when it changes (keeps selection and avoids layout work). */
export function setText(node, text) {
  const t = text === undefined || text === null ? '' : String(text);
  if (node && node.textContent !== t) node.textContent = t;
}

/** Sets or removes an attribute only when it changes. */
export function setAttr(node, name, value) {
  if (!node) return;
  if (value === null || value === undefined || value === false) {
    if (node.hasAttribute(name)) node.removeAttribute(name);
  } else {
    const v = value === true ? '' : String(value);
    if (node.getAttribute(name) !== v) node.setAttribute(name, v);
  }
}

export function show(node, visible) {
  if (node) node.hidden = !visible;
}

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

/** A short message in `box` (the page's toast area): at most 4 at once, gone after ms. */
export function toast(box, text, kind = 'info', ms = 4500) {
  const t = el('div', { class: `toast toast-${kind}`, role: kind === 'error' ? 'alert' : 'status' }, text);
  box.append(t);
  while (box.children.length > 4) box.firstElementChild.remove();
  setTimeout(() => t.remove(), ms);
}
