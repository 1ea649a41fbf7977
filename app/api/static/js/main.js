// The page: sign-in, the header, and the views behind #/graphs, #/incidents[/ID], #/silences.
// Signing in trades a token for an HttpOnly session cookie (POST /session); the token is never
// stored by the page. The incident board is polled every 2 s, so a new incident shows at once.

import { ApiError, api, session, setSession } from "./api.js";
import { flash, h } from "./dom.js";
import { showGraphs, stopGraphs } from "./graphs.js";
import { boardRows, refreshDrillSchedule, showBoard, showIncident } from "./incidents.js";
import { showSilences } from "./silences.js";

const view = document.getElementById("view");
const BOARD_EVERY_MS = 2000;
let boardTimer = null;

function signInForm() {
  const token = h("input", { type: "password", name: "token", autocomplete: "current-password", placeholder: "alertpipe token", required: true });
  const submit = async (event) => {
    event.preventDefault();
    try {
      setSession(await api("POST", "/session", { token: token.value }));
      token.value = "";
      await start();
    } catch (error) {
      flash(error instanceof ApiError && error.status === 401 ? "That token was not accepted." : error.message);
    }
  };
  return h(
    "form",
    { class: "sign-in", onsubmit: submit },
    h("h2", { text: "Sign in" }),
    h("p", { class: "muted", text: "With a token from `alertpipe token create` (ask an admin)." }),
    token,
    h("button", { type: "submit" }, "Sign in"),
  );
}

function showSignedOut() {
  stopGraphs();
  clearInterval(boardTimer);
  setSession(null);
  document.getElementById("nav").hidden = true;
  document.getElementById("who").hidden = true;
  view.replaceChildren(signInForm());
}

function showHeader() {
  document.getElementById("nav").hidden = false;
  document.getElementById("who").hidden = false;
  document.getElementById("who-name").textContent = session.name;
  document.getElementById("who-role").textContent = session.role;
}

async function refreshBoard() {
  let rows;
  try {
    rows = await boardRows();
  } catch {
    return;
  }
  const open = rows.filter((r) => r.status !== "resolved").length;
  const count = document.getElementById("open-count");
  count.hidden = open === 0;
  count.textContent = String(open);
  if (currentRoute().name === "incidents" && !currentRoute().id) showBoard(view, rows);
}

function currentRoute() {
  const [path, query] = location.hash.replace(/^#/, "").split("?");
  const parts = path.split("/").filter(Boolean);
  return { name: parts[0] || "graphs", id: parts[1] ? decodeURIComponent(parts[1]) : null, params: new URLSearchParams(query || "") };
}

async function route() {
  if (!session.role) return;
  const { name, id, params } = currentRoute();
  for (const link of document.querySelectorAll("#nav a")) link.classList.toggle("active", link.dataset.view === name);
  if (name !== "graphs") stopGraphs();
  try {
    if (name === "incidents" && id) await showIncident(view, id);
    else if (name === "incidents") await refreshBoard();
    else if (name === "silences") await showSilences(view, params);
    else await showGraphs(view, params);
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 401)) view.replaceChildren(h("p", { class: "empty", text: error.message }));
  }
}

async function start() {
  showHeader();
  clearInterval(boardTimer);
  boardTimer = setInterval(refreshBoard, BOARD_EVERY_MS);
  await refreshDrillSchedule();
  refreshBoard();
  await route();
}

document.getElementById("sign-out").addEventListener("click", async () => {
  try {
    await api("DELETE", "/session");
  } finally {
    showSignedOut();
  }
});
window.addEventListener("signed-out", showSignedOut);
window.addEventListener("hashchange", route);

try {
  setSession(await api("GET", "/session"));
  await start();
} catch {
  showSignedOut();
}
