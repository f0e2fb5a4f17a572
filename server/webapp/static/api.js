// The API client: tokens, one in-flight refresh, JSON errors, SSE over fetch, uploads.
//
// Tokens (docs/WEBAPP.md): the access token lives only in this module's memory; the refresh
// token is kept in localStorage so a reload (or a new tab) resumes the session. Refresh tokens
// rotate and a spent one presented again revokes the whole session, so every refresh, in every
// tab of this origin, runs under one Web Lock and reads the newest stored token inside it.

const API = "/api/v1";
const REFRESH_KEY = "starguide.refresh_token";
const LOCK = "starguide-refresh";

let access = null; // {token, expiresAt}
let currentUser = null;
let refreshing = null; // the single in-flight refresh of this tab
const listeners = new Set();

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details || {};
  }
}

export function user() {
  return currentUser;
}

export function setUser(next) {
  currentUser = next;
  emit();
}

/** Called with the user (or null) whenever the session starts, changes or ends. */
export function onSession(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function emit() {
  for (const fn of listeners) fn(currentUser);
}

export function hasStoredSession() {
  return Boolean(localStorage.getItem(REFRESH_KEY));
}

/** Adopt an auth answer ({user, access_token, refresh_token, expires_in}). */
export function adopt(answer) {
  access = {
    token: answer.access_token,
    expiresAt: Date.now() + Number(answer.expires_in || 900) * 1000,
  };
  localStorage.setItem(REFRESH_KEY, answer.refresh_token);
  currentUser = answer.user;
  emit();
}

function clearSession() {
  access = null;
  currentUser = null;
  localStorage.removeItem(REFRESH_KEY);
  emit();
}

// Another tab logged out (or its session ended): this one follows.
window.addEventListener("storage", (event) => {
  if (event.key === REFRESH_KEY && !event.newValue && currentUser) {
    access = null;
    currentUser = null;
    emit();
  }
});

async function toError(res) {
  let body = null;
  try {
    body = await res.json();
  } catch {
    body = null;
  }
  const err = body && body.error;
  let message = (err && err.message) || `The server answered ${res.status}.`;
  const retry = res.headers.get("Retry-After");
  if ((res.status === 429 || res.status === 503) && retry) {
    message = `${message} Try again in ${retry} s.`;
  }
  return new ApiError(res.status, (err && err.code) || "http_error", message, err && err.details);
}

/** The session's refresh: one per tab at a time, one per origin at a time (Web Locks). */
export function refresh() {
  if (!refreshing) {
    refreshing = runRefresh().finally(() => {
      refreshing = null;
    });
  }
  return refreshing;
}

async function runRefresh() {
  // Callers go on as soon as the new token is adopted; the lock is held a little longer
  // (below), and a caller that waited for that too would redraw a page the user is using.
  let settle;
  const adopted = new Promise((resolve, reject) => {
    settle = { resolve, reject };
  });
  const work = async () => {
    try {
      // Read inside the lock: another tab may have rotated the token while we waited.
      const token = localStorage.getItem(REFRESH_KEY);
      if (!token) {
        clearSession();
        throw new ApiError(401, "not_signed_in", "Please log in.");
      }
      const res = await fetch(`${API}/auth/refresh`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ refresh_token: token }),
      });
      if (!res.ok) {
        const err = await toError(res);
        // Only a refused token ends the session; a server that is down keeps it for later.
        if (res.status === 401 || res.status === 400) clearSession();
        throw err;
      }
      adopt(await res.json());
    } catch (err) {
      settle.reject(err);
      return;
    }
    settle.resolve();
    // Chromium hands a localStorage write to other tabs asynchronously: hold the lock a
    // moment longer, so the next tab in line reads the rotated token, not the spent one.
    await new Promise((resolve) => setTimeout(resolve, 150));
  };
  const held = navigator.locks && navigator.locks.request ? navigator.locks.request(LOCK, work) : work();
  // A lock that could not be taken at all (work never ran) fails the refresh too.
  held.catch((err) => settle.reject(err));
  return adopted;
}

async function accessToken() {
  if (!access || access.expiresAt - 30_000 < Date.now()) await refresh();
  return access.token;
}

async function send(path, { method, body, headers, signal, auth }) {
  const all = { ...headers };
  let payload = body;
  if (body !== undefined && !(body instanceof FormData)) {
    all["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  if (auth) all.Authorization = `Bearer ${await accessToken()}`;
  return fetch(`${API}${path}`, { method, headers: all, body: payload, signal });
}

/**
 * Call the API: JSON in, JSON out (null for 204), ApiError for any error status.
 * A 401 on a signed-in call refreshes once and retries (the access token may have expired).
 */
export async function api(path, options = {}) {
  const opts = { method: "GET", headers: {}, auth: true, ...options };
  let res = await send(path, opts);
  if (res.status === 401 && opts.auth) {
    await refresh();
    res = await send(path, opts);
  }
  if (!res.ok) throw await toError(res);
  if (opts.raw) return res;
  const text = await res.text(); // 202 and 204 answers may have no body
  return text ? JSON.parse(text) : null;
}

/** Log in / sign up style calls: no bearer token, the answer is adopted as the session. */
export async function authenticate(path, body) {
  const answer = await api(path, { method: "POST", body, auth: false });
  adopt(answer);
  return answer;
}

export async function logout() {
  const token = localStorage.getItem(REFRESH_KEY);
  clearSession();
  if (token) {
    try {
      await api("/auth/logout", { method: "POST", body: { refresh_token: token }, auth: false });
    } catch {
      // The session is forgotten here either way; the server ends it on its own at expiry.
    }
  }
}

/**
 * POST and read the answer as Server-Sent Events (docs/CHAT.md): `onEvent(name, data)` for
 * each event; resolves when the stream ends. `signal` aborts the connection (the reply itself
 * goes on in the server: Stop calls the abort route instead).
 */
export async function stream(path, body, { onEvent, signal }) {
  const opts = {
    method: "POST",
    body,
    headers: { Accept: "text/event-stream" },
    signal,
    auth: true,
  };
  let res = await send(path, opts);
  if (res.status === 401) {
    await refresh();
    res = await send(path, opts);
  }
  if (!res.ok) throw await toError(res);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let match = buffer.match(/\r?\n\r?\n/);
    while (match) {
      const block = buffer.slice(0, match.index);
      buffer = buffer.slice(match.index + match[0].length);
      dispatch(block, onEvent);
      match = buffer.match(/\r?\n\r?\n/);
    }
  }
  if (buffer.trim()) dispatch(buffer, onEvent);
}

function dispatch(block, onEvent) {
  let name = "message";
  const data = [];
  for (const line of block.split(/\r?\n/)) {
    if (!line || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") name = value;
    else if (field === "data") data.push(value);
  }
  if (!data.length) return;
  let parsed;
  try {
    parsed = JSON.parse(data.join("\n"));
  } catch {
    return;
  }
  onEvent(name, parsed);
}

/** Upload a file with progress (XMLHttpRequest: fetch has no upload progress). */
export async function upload(path, form, { onProgress }) {
  const attempt = (token) =>
    new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", `${API}${path}`);
      xhr.setRequestHeader("Authorization", `Bearer ${token}`);
      xhr.responseType = "json";
      xhr.upload.addEventListener("progress", (e) => {
        if (e.lengthComputable) onProgress(e.loaded, e.total);
      });
      xhr.addEventListener("load", () => resolve(xhr));
      xhr.addEventListener("error", () => reject(new ApiError(0, "network", "The upload failed: no connection.")));
      xhr.send(form);
    });
  let xhr = await attempt(await accessToken());
  if (xhr.status === 401) {
    await refresh();
    xhr = await attempt(await accessToken());
  }
  if (xhr.status >= 200 && xhr.status < 300) return xhr.response;
  const err = xhr.response && xhr.response.error;
  throw new ApiError(
    xhr.status,
    (err && err.code) || "http_error",
    (err && err.message) || `The upload failed (${xhr.status}).`,
    err && err.details,
  );
}
