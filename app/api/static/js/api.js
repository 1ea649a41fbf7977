// The page's one way to the API: JSON in and out, the session cookie sent by the browser, and
// the CSRF token (from the session) on every write. A 401 means "sign in again".

export const session = { name: null, role: null, csrf: null };

const WRITERS = new Set(["operator", "admin"]);

export function canWrite() {
  return WRITERS.has(session.role);
}

export class ApiError extends Error {
  constructor(status, body) {
    super(describe(status, body));
    this.status = status;
    this.body = body;
  }
}

function describe(status, body) {
  if (body && typeof body === "object") {
    const fields = (body.fields || []).map((f) => `${f.field}: ${f.message}`).join("; ");
    const message = typeof body.message === "string" ? body.message : "";
    const text = message ? [message, fields].filter(Boolean).join(" — ") : body.error;
    if (text) return `${status}: ${text}`;
  }
  return `${status}: the request failed`;
}

export async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && session.csrf) headers["X-CSRF-Token"] = session.csrf;
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
  });
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { error: text };
  }
  if (!response.ok) {
    if (response.status === 401) window.dispatchEvent(new CustomEvent("signed-out"));
    throw new ApiError(response.status, data);
  }
  return data;
}

export function setSession(found) {
  session.name = found ? found.name : null;
  session.role = found ? found.role : null;
  session.csrf = found ? found.csrf : null;
}
