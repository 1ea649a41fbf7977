// Silences: list, create, expire. Maintenance windows and automation holds join this view as
// further entries of SECTIONS once their API exists (each: a title, a loader and a renderer).

import { api, canWrite } from "./api.js";
import { badge, dateTime, flash, h } from "./dom.js";

const OPS = ["=", "!=", "=~", "!~"];

function matcherText(m) {
  return `${m.name} ${m.op} ${m.value}`;
}

function silenceTable(list, reload) {
  if (!list.length) return h("p", { class: "empty", text: "No silences." });
  return h(
    "table",
    { class: "silences" },
    h("thead", {}, h("tr", {}, ["State", "Matchers", "From", "Until", "By", "Comment", ""].map((t) => h("th", { text: t })))),
    h(
      "tbody",
      {},
      list.map((s) =>
        h(
          "tr",
          { "data-silence": s.id },
          h("td", {}, badge(s.state, "state")),
          h("td", { class: "mono", text: s.matchers.map(matcherText).join(", ") }),
          h("td", { text: dateTime(s.starts_at) }),
          h("td", { text: dateTime(s.ends_at) }),
          h("td", { text: s.created_by }),
          h("td", { text: s.comment || "—" }),
          h("td", {}, canWrite() && s.state !== "expired" ? h("button", { type: "button", "data-action": "expire", onclick: () => expire(s.id, reload) }, "Expire") : null),
        ),
      ),
    ),
  );
}

async function expire(id, reload) {
  try {
    await api("DELETE", `/silences/${encodeURIComponent(id)}`);
    flash("Silence expired.", "ok");
    reload();
  } catch (error) {
    flash(error.message);
  }
}

function matcherRow() {
  return h(
    "div",
    { class: "matcher" },
    h("input", { name: "name", placeholder: "service, rule, severity…", value: "service", required: true }),
    h("select", { name: "op" }, OPS.map((op) => h("option", { value: op, text: op }))),
    h("input", { name: "value", placeholder: "chat-api", required: true }),
  );
}

function createForm(reload) {
  const matchers = h("div", { class: "matchers" }, matcherRow());
  const hours = h("input", { type: "number", name: "hours", value: "2", min: "0.1", step: "0.1", max: "168" });
  const comment = h("input", { type: "text", name: "comment", placeholder: "why", maxlength: "4000" });
  const submit = async (event) => {
    event.preventDefault();
    const rows = [...matchers.querySelectorAll(".matcher")].map((row) => ({
      name: row.querySelector("[name=name]").value.trim(),
      op: row.querySelector("[name=op]").value,
      value: row.querySelector("[name=value]").value.trim(),
    }));
    const ends_at = new Date(Date.now() + Number(hours.value) * 3_600_000).toISOString();
    try {
      await api("POST", "/silences", { matchers: rows, ends_at, comment: comment.value.trim() });
      flash("Silence created.", "ok");
      reload();
    } catch (error) {
      flash(error.message);
    }
  };
  return h(
    "form",
    { class: "create", onsubmit: submit, "data-controls": "write" },
    h("h3", { text: "New silence" }),
    matchers,
    h("button", { type: "button", class: "link", onclick: () => matchers.append(matcherRow()) }, "+ matcher"),
    h("label", {}, "for ", hours, " hours"),
    comment,
    h("button", { type: "submit" }, "Create silence"),
  );
}

const SECTIONS = [
  {
    title: "Silences",
    load: (all) => api("GET", `/silences?expired=${all}`),
    render: silenceTable,
    create: createForm,
  },
];

export async function showSilences(view, params) {
  const all = params.get("expired") === "true";
  const reload = () => showSilences(view, params);
  const parts = [];
  for (const section of SECTIONS) {
    const list = await section.load(all);
    parts.push(
      h(
        "section",
        {},
        h("h2", { text: section.title }),
        h("label", { class: "muted" }, h("input", { type: "checkbox", checked: all, onchange: (e) => (location.hash = `#/silences?expired=${e.target.checked}`) }), " show expired"),
        section.render(list, reload),
        canWrite() ? section.create(reload) : null,
      ),
    );
  }
  view.replaceChildren(...parts);
}
