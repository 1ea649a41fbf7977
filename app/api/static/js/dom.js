// Small helpers: elements are built with textContent only (nothing from the API is ever parsed
// as HTML), and times are shown in the browser's time zone.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "class") el.className = value;
    else if (name === "text") el.textContent = value;
    else el.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function duration(seconds) {
  const exact = Math.abs(seconds);
  if (exact < 10) return `${Number(exact.toFixed(exact < 1 ? 2 : 1))} s`;
  const s = Math.round(exact);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60 ? `${s % 60} s` : ""}`.trim();
  const m = Math.floor(s / 60);
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function clock(value) {
  const date = typeof value === "number" ? new Date(value) : new Date(value);
  return date.toLocaleTimeString([], { hour12: false });
}

export function dateTime(value) {
  const date = new Date(value);
  return `${date.toLocaleDateString()} ${date.toLocaleTimeString([], { hour12: false })}`;
}

let flashTimer = null;

export function flash(message, kind = "error") {
  const box = document.getElementById("flash");
  box.textContent = message;
  box.className = `flash ${kind}`;
  box.hidden = false;
  clearTimeout(flashTimer);
  flashTimer = setTimeout(() => (box.hidden = true), kind === "error" ? 8000 : 3000);
}

export function badge(text, kind) {
  return h("span", { class: `badge ${kind || String(text).toLowerCase()}`, text });
}
