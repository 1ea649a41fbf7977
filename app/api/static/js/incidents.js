// The incident board (open first) and one incident: its timeline with the evidence, the
// rollback's phases against their budgets, each action's delivery, and — for operators — the
// buttons that acknowledge, resolve, decide and silence. Viewers get no write control at all.

import { api, canWrite } from "./api.js";
import { badge, clock, dateTime, duration, flash, h } from "./dom.js";

const STEP_NAMES = {
  lead_engineer: "lead engineer",
  team_lead: "team lead",
  rollback: "automatic rollback",
  final_contact: "final contact",
};

function nextStep(step) {
  if (!step) return "—";
  const when = step.in_s > 0 ? `in ${duration(step.in_s)}` : "due now";
  const role = STEP_NAMES[step.step] || step.step;
  const who = step.step === "rollback" || step.to === role ? role : `${role} (${step.to})`;
  return `${who} ${when}`;
}

export async function boardRows() {
  return api("GET", "/api/board");
}

// The plan's monthly DR drill: the board says when one is overdue (GET /drills' schedule).
let drillSchedule = null;

export async function refreshDrillSchedule() {
  try {
    drillSchedule = (await api("GET", "/drills?limit=1")).schedule;
  } catch {
    drillSchedule = null;
  }
}

function drillNotice() {
  if (!drillSchedule || !drillSchedule.overdue) return null;
  const last = drillSchedule.last_finished_at ? `the last one finished ${dateTime(new Date(drillSchedule.last_finished_at * 1000).toISOString())}` : "none has run yet";
  return h("p", { class: "drill-overdue", text: `DR drill overdue: the plan asks for one every ${drillSchedule.every_days} days; ${last} (alertpipe drill start --scenario s1).` });
}

export function showBoard(view, rows) {
  const open = rows.filter((r) => r.status !== "resolved");
  const table = h(
    "table",
    { class: "board" },
    h("thead", {}, h("tr", {}, ["Severity", "S-class", "Status", "Service", "Incident", "Age", "Next escalation", "Acknowledged by"].map((t) => h("th", { text: t })))),
    h(
      "tbody",
      {},
      rows.map((r) =>
        h(
          "tr",
          { class: r.status === "resolved" ? "resolved" : "open", "data-incident": r.id, onclick: () => (location.hash = `#/incidents/${r.id}`) },
          h("td", {}, badge(r.severity)),
          h("td", { text: r.scenario || "—" }),
          h("td", {}, badge(r.status, "status")),
          h("td", {}, r.service, r.drill ? [" ", badge("DRILL", "drill")] : null),
          h("td", {}, h("a", { href: `#/incidents/${r.id}`, text: r.title }), h("div", { class: "muted mono", text: r.id })),
          h("td", { text: duration(r.age_s) }),
          h("td", { text: r.status === "resolved" ? "—" : nextStep(r.next_step) }),
          h("td", { text: r.acknowledged_by || "—" }),
        ),
      ),
    ),
  );
  view.replaceChildren(
    drillNotice(),
    h("h2", {}, "Incidents ", h("span", { class: "muted", text: `${open.length} open, ${rows.length - open.length} recently resolved` })),
    rows.length ? table : h("p", { class: "empty", text: "No incidents." }),
  );
}

// --- one incident -----------------------------------------------------------------------------

const short = (v) => (typeof v === "number" ? String(Number(v.toPrecision(4))) : String(v));

// A decision's evidence in one line (metric, observed against the threshold, window, samples);
// anything else, folded.
function evidence(e, title = "evidence") {
  if (!e || (typeof e === "object" && !Object.keys(e).length)) return null;
  if (typeof e === "string") return h("div", { class: "evidence mono", text: e });
  if ("metric" in e && "threshold" in e) {
    const windowMs = e.window_end_ms - e.window_start_ms;
    const seconds = windowMs > 0 ? ` over ${duration(windowMs / 1000)}` : "";
    const samples = e.samples !== undefined ? `, ${e.samples} samples` : "";
    const observed = e.observed === null || e.observed === undefined ? "no data" : short(e.observed);
    return h("div", { class: "evidence mono", text: `${e.metric} = ${observed} ${e.comparison || ""} ${short(e.threshold)}${seconds}${samples}` });
  }
  return h("details", { class: "evidence" }, h("summary", { text: title }), h("pre", { text: JSON.stringify(e, null, 2) }));
}

// An action's delivery result in one line: attempt, HTTP status, error.
function delivery(r) {
  if (!r || !Object.keys(r).length) return null;
  if (!("attempt" in r)) return evidence(r, "result");
  const parts = [`attempt ${r.attempt}`, r.status ? `HTTP ${r.status}` : null, r.error ? `error: ${r.error}` : null];
  return h("div", { class: "evidence mono", text: parts.filter(Boolean).join(" · ") });
}

function timeline(entries) {
  return h(
    "table",
    { class: "timeline" },
    h("thead", {}, h("tr", {}, ["Time", "Kind", "Who", "What"].map((t) => h("th", { text: t })))),
    h(
      "tbody",
      {},
      entries.map((t) =>
        h(
          "tr",
          { "data-kind": t.kind },
          h("td", { class: "mono", text: clock(t.at) }),
          h("td", {}, badge(t.kind, "kind")),
          h("td", { class: "actor", text: t.actor || "alertpipe" }),
          h("td", {}, h("div", { text: t.message }), t.reason ? h("div", { class: "muted", text: t.reason }) : null, evidence(t.evidence), delivery(t.result)),
        ),
      ),
    ),
  );
}

function phases(rollback) {
  if (!rollback) return h("p", { class: "muted", text: "No rollback." });
  const taken = (p) => (p.duration_s !== null ? p.duration_s : (Date.now() - Date.parse(p.started_at)) / 1000);
  const scale = Math.max(1, ...rollback.phases.map((p) => Math.max(p.budget_s || 0, taken(p))));
  const rows = rollback.phases.map((p) => {
    // A running phase's bar grows with the time since it started.
    const spent = p.duration_s !== null ? p.duration_s : Math.max(0, (Date.now() - Date.parse(p.started_at)) / 1000);
    const over = p.budget_s !== null && spent > p.budget_s;
    const attempt = p.attempt > 1 ? `, attempt ${p.attempt}` : "";
    const label = p.status === "skipped" ? (p.detail && p.detail.reason) || "" : `${duration(spent)} of a ${duration(p.budget_s)} budget${attempt}`;
    return h(
      "div",
      { class: `phase ${p.status}`, "data-phase": p.phase },
      h("div", { class: "phase-name", text: p.phase.replace("_", " ") }),
      h(
        "div",
        { class: "track" },
        p.budget_s ? h("div", { class: "budget", style: `width:${(100 * p.budget_s) / scale}%` }) : null,
        p.status === "skipped" ? null : h("div", { class: `spent${over ? " over" : ""}`, style: `width:max(3px, ${(100 * spent) / scale}%)` }),
      ),
      h("div", { class: "phase-label", text: `${p.status} · ${label}` }),
    );
  });
  const head = `${rollback.from_version || "?"} → ${rollback.target_version || "?"} · ${rollback.status}${rollback.outcome ? ` · ${rollback.outcome}` : ""}`;
  return h("div", { class: "phases" }, h("p", { class: "muted", text: head }), rows, h("p", { class: "legend muted", text: "bar: time taken; light band: the plan's budget" }));
}

function actions(list) {
  return h(
    "table",
    { class: "actions" },
    h("thead", {}, h("tr", {}, ["Action", "Delivery", "Attempts", "Last error", "Created", "Finished"].map((t) => h("th", { text: t })))),
    h(
      "tbody",
      {},
      list.map((a) =>
        h(
          "tr",
          { "data-action": a.kind },
          h("td", {}, h("div", { text: a.kind }), h("div", { class: "muted mono", text: a.idempotency_key })),
          h("td", {}, badge(a.status, "delivery")),
          h("td", { text: String(a.attempts) }),
          h("td", { class: "mono", text: a.last_error || "—" }),
          h("td", { class: "mono", text: clock(a.created_at) }),
          h("td", { class: "mono", text: a.finished_at ? clock(a.finished_at) : "—" }),
        ),
      ),
    ),
  );
}

async function act(path, body, done) {
  try {
    await api("POST", path, body);
    flash("Done.", "ok");
    done();
  } catch (error) {
    flash(error.message);
  }
}

function controls(incident, reload) {
  if (!canWrite() || incident.status === "resolved") return null;
  const note = h("input", { type: "text", name: "note", placeholder: "note (optional)", maxlength: "4000" });
  const body = () => (note.value.trim() ? { note: note.value.trim() } : {});
  const base = `/incidents/${encodeURIComponent(incident.id)}`;
  const minutes = h("input", { type: "number", name: "silence-minutes", value: "60", min: "1", max: "10080" });
  const silence = () => {
    const ends = new Date(Date.now() + Number(minutes.value) * 60_000).toISOString();
    const matchers = [{ name: "service", value: incident.service }];
    act("/silences", { matchers, ends_at: ends, comment: `from ${incident.id}${note.value ? `: ${note.value}` : ""}` }, reload);
  };
  return h(
    "div",
    { class: "controls", "data-controls": "write" },
    note,
    incident.status === "open" ? h("button", { type: "button", "data-action": "ack", onclick: () => act(`${base}/ack`, body(), reload) }, "Acknowledge") : null,
    h("button", { type: "button", "data-action": "resolve", onclick: () => act(`${base}/resolve`, body(), reload) }, "Resolve"),
    incident.human_decision ? null : h("button", { type: "button", "data-action": "rollback", onclick: () => act(`${base}/decision`, { action: "rollback", ...body() }, reload) }, "Decide: roll back"),
    incident.human_decision ? null : h("button", { type: "button", "data-action": "dismiss", onclick: () => act(`${base}/decision`, { action: "dismiss", ...body() }, reload) }, "Decide: dismiss"),
    h("span", { class: "silence" }, h("button", { type: "button", "data-action": "silence", onclick: silence }, `Silence ${incident.service} for`), minutes, " min"),
  );
}

export async function showIncident(view, id) {
  const incident = await api("GET", `/incidents/${encodeURIComponent(id)}`);
  const reload = () => showIncident(view, id);
  const facts = [
    ["Service", incident.service],
    ["Opened", dateTime(incident.opened_at)],
    ["Acknowledged", incident.acknowledged_by ? `${incident.acknowledged_by} at ${clock(incident.acknowledged_at)}` : "—"],
    ["Versions", `${incident.bad_version || "?"} → ${incident.last_good_version || "?"}`],
    ["Rollback", incident.rollback_status || "—"],
    ["Decision", incident.human_decision || "—"],
  ];
  const parts = [
    h("p", {}, h("a", { href: "#/incidents", text: "← all incidents" })),
    h("h2", {}, incident.drill ? [badge("DRILL", "drill"), " "] : null, badge(incident.severity), " ", incident.scenario ? badge(incident.scenario, "scenario") : null, " ", incident.title, " ", badge(incident.status, "status")),
    incident.drill ? h("p", { class: "muted", text: `DR drill ${incident.drill}: a test, not a real incident (GET /drills/${incident.drill} for its report)` }) : null,
    incident.status === "resolved" ? h("p", {}, h("a", { href: `/incidents/${encodeURIComponent(id)}/review?format=markdown`, target: "_blank", text: "Post-incident review (draft)" })) : null,
    h("dl", { class: "facts" }, facts.map(([k, v]) => [h("dt", { text: k }), h("dd", { text: v })])),
    controls(incident, reload),
    h("section", {}, h("h3", { text: "Timeline" }), timeline(incident.timeline)),
    h("section", {}, h("h3", { text: "Rollback phases" }), phases(incident.rollback)),
    h("section", {}, h("h3", { text: "Actions and their delivery" }), actions(incident.actions)),
  ];
  view.replaceChildren(...parts.filter(Boolean)); // a viewer's page has no controls at all
  view.dataset.incident = id;
}
