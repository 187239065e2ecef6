// Reusable WebSocket client for the dashboards.
// - connects to a same-origin ws(s) URL built from a path ("/ws/admin");
// - reconnects with exponential backoff (250 ms doubling up to 3 s, with a little jitter);
// - the server's first message on every connect is a "snapshot": onSnapshot(msg) gets it,
//   every other message goes to onMessage(msg);
// - onState('up') once a snapshot arrived, onState('down', {failures, code, everUp}) on every
//   failed attempt or lost connection (the caller decides what to show, and may ask
//   GET /api/session to tell "not logged in" from "Central away");
// - a watchdog closes a connection that has been silent for `silenceMs` (the server
//   ticks every second), so a half-open TCP connection is noticed too.

export function wsUrl(path) {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${proto}//${location.host}${path}`;
}

export function createWsClient({
  path,
  onSnapshot = () => {},
  onMessage = () => {},
  onState = () => {},
  minDelayMs = 250,
  maxDelayMs = 3000,
  silenceMs = 5000,
} = {}) {
  let ws = null;
  let running = false;
  let failures = 0;
  let everUp = false;
  let up = false;
  let retryTimer = null;
  let watchdog = null;
  let lastMessageAt = 0;

  function delay() {
    const base = Math.min(maxDelayMs, minDelayMs * 2 ** Math.max(0, failures - 1));
    return Math.round(base * (0.85 + Math.random() * 0.3));
  }

  function clearTimers() {
    if (retryTimer) clearTimeout(retryTimer);
    retryTimer = null;
    if (watchdog) clearInterval(watchdog);
    watchdog = null;
  }

  function connect() {
    retryTimer = null;
    if (!running) return;
    let sock;
    try {
      sock = new WebSocket(wsUrl(path));
    } catch {
      lost(sock, 0);
      return;
    }
    ws = sock;
    sock.onmessage = (ev) => {
      if (sock !== ws) return;
      lastMessageAt = Date.now();
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        return;
      }
      if (!msg || typeof msg !== 'object') return;
      if (msg.type === 'snapshot') {
        failures = 0;
        everUp = true;
        up = true;
        onSnapshot(msg);
        onState('up', { failures: 0, everUp });
        if (!watchdog) {
          watchdog = setInterval(() => {
            if (sock === ws && Date.now() - lastMessageAt > silenceMs) {
              try { sock.close(4000, 'silent'); } catch { /* closing anyway */ }
              lost(sock, 4000);
            }
          }, 1000);
        }
      } else if (up) {
        onMessage(msg);
      }
    };
    sock.onclose = (ev) => lost(sock, ev.code);
    sock.onerror = () => { /* a close event follows */ };
  }

  function lost(sock, code) {
    if (sock && sock !== ws) return;
    if (sock) {
      sock.onmessage = sock.onclose = sock.onerror = null;
    }
    ws = null;
    up = false;
    if (watchdog) clearInterval(watchdog);
    watchdog = null;
    if (!running) return;
    failures += 1;
    onState('down', { failures, code, everUp });
    if (running && !retryTimer) retryTimer = setTimeout(connect, delay());
  }

  return {
    start() {
      if (running) return;
      running = true;
      failures = 0;
      everUp = false;
      connect();
    },
    stop() {
      running = false;
      clearTimers();
      const sock = ws;
      ws = null;
      up = false;
      if (sock) {
        sock.onmessage = sock.onclose = sock.onerror = null;
        try { sock.close(1000, 'bye'); } catch { /* already closed */ }
      }
    },
    /** Skips the remaining backoff wait (e.g. when the tab becomes visible again). */
    retryNow() {
      if (running && !ws && retryTimer) {
        clearTimeout(retryTimer);
        connect();
      }
    },
    get connected() {
      return up;
    },
  };
}
