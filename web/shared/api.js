// fetch helper for the dashboards' JSON API.
// - JSON request body, Content-Type: application/json on every request with a body;
// - X-CSRF-Token from the last login/session answer on every non-GET request;
// - same-origin credentials (the HttpOnly session cookie);
// - never throws: resolves to {status, body, headers}; status 0 = Central not reachable.
//   body is the parsed JSON answer (or {error: text} when the answer is not JSON).

let csrfToken = null;

export function setCsrfToken(token) {
  csrfToken = typeof token === 'string' && token ? token : null;
}

export function clearCsrfToken() {
  csrfToken = null;
}

export async function api(method, path, body, { timeoutMs = 10000 } = {}) {
  const headers = { Accept: 'application/json' };
  const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  if (method !== 'GET' && method !== 'HEAD' && csrfToken) headers['X-CSRF-Token'] = csrfToken;

  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), timeoutMs);
  init.signal = ctl.signal;
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    clearTimeout(timer);
    return { status: 0, body: { error: 'Unable to connect to CENTRAL' }, headers: new Headers() };
  }
  let parsed = null;
  try {
    const text = await res.text();
    if (text) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = { error: text.trim().slice(0, 300) };
      }
    }
  } catch {
    parsed = null;
  } finally {
    clearTimeout(timer);
  }
  if (parsed === null || typeof parsed !== 'object') parsed = parsed === null ? {} : { value: parsed };
  // A login or session answer carries the token every later POST must send.
  if (res.ok && typeof parsed.csrf_token === 'string') setCsrfToken(parsed.csrf_token);
  return { status: res.status, body: parsed, headers: res.headers };
}

/** The text to show for a failed answer: the server's {"error"} text, else a generic one. */
export function errorText(res) {
  if (res && res.body && typeof res.body.error === 'string' && res.body.error) return res.body.error;
  if (!res || res.status === 0) return 'Unable to connect to CENTRAL';
  return `Request failed (HTTP ${res.status})`;
}
