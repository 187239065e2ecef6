// EVCharging - Driver: the driver's console, served by EV_Driver (driver.web_port).
// Live over the WebSocket /ws/driver: each `snapshot` is the whole truth; `status`,
// `supply`, `telemetry`, `ticket`, `cps`, `line`, `notice` and `tick` update parts of it.
// The password is checked by CENTRAL (EV_Driver proves it on the bus); this page only
// ever holds an HttpOnly cookie and the CSRF token of its answer.
import { api, errorText, clearCsrfToken } from './shared/api.js';
import { createWsClient } from './shared/ws.js';
import { el, setText, setAttr, $, toast as showToast } from './shared/dom.js';
import * as fmt from './shared/fmt.js';
import { createPowerChart } from './shared/power-chart.js';

const STATES = ['ACTIVATED', 'SUPPLYING', 'STOPPED', 'BROKEN', 'DISCONNECTED'];
// The words of the admin page (docs/WEB.md): STOPPED reads "Out of Order".
const STATE_WORDS = {
  ACTIVATED: 'ACTIVATED', SUPPLYING: 'SUPPLYING', STOPPED: 'Out of Order',
  BROKEN: 'BROKEN', DISCONNECTED: 'DISCONNECTED',
};
const STEP_WORDS = {
  received: 'Request received', checking: 'Checking', authorised: 'Authorised',
  denied: 'Denied', plug_in: 'Plug in your vehicle', supplying: 'Supplying',
  stopping: 'Stopping', interrupted: 'Interrupted', ended: 'Ended',
};
const HISTORY_PAGE = 10;
const ACTIVITY_MAX = 120;

const S = {
  driver: null,
  status: null,
  cps: [],
  supply: null,
  history: [],
  historyMore: false,
  historyBusy: false,
  busy: false, // a request/stop in flight
};

const dom = {
  body: document.body,
  loginView: $('#login-view'),
  loginForm: $('#login-form'),
  loginDriver: $('#login-driver'),
  loginUser: $('#login-user'),
  loginPassword: $('#login-password'),
  loginSubmit: $('#login-submit'),
  loginError: $('#login-error'),
  consoleView: $('#console-view'),
  userBox: $('#user-box'),
  whoami: $('#whoami'),
  logout: $('#logout'),
  pill: $('#conn-pill'),
  pillText: $('#conn-pill-text'),
  banner: $('#conn-banner'),
  bannerTitle: $('#conn-banner-title'),
  bannerDetail: $('#conn-banner-detail'),
  topInfo: $('#topbar-info'),
  topBalance: $('#top-balance'),
  topCentral: $('#top-central'),
  lastUpdate: $('#last-update'),
  figBalance: $('#fig-balance'),
  figState: $('#fig-state'),
  figCp: $('#fig-cp'),
  kw: $('#live-kw'),
  kwh: $('#live-kwh'),
  eur: $('#live-eur'),
  elapsed: $('#live-elapsed'),
  stop: $('#stop'),
  supplyMeta: $('#supply-meta'),
  supplyEmpty: $('#supply-empty'),
  steps: $('#steps'),
  ticket: $('#ticket'),
  grid: $('#cp-grid'),
  cpEmpty: $('#cp-empty'),
  cpCount: $('#cp-count'),
  anyCp: $('#any-cp'),
  chart: $('#power-chart'),
  powerMeta: $('#power-meta'),
  history: $('#history'),
  historyEmpty: $('#history-empty'),
  historyMeta: $('#history-meta'),
  historyOlder: $('#history-older'),
  historyRefresh: $('#history-refresh'),
  activity: $('#activity'),
  toasts: $('#toasts'),
};

const toast = (text, kind, ms) => showToast(dom.toasts, text, kind, ms);

let chart = null;
function ensureChart() {
  if (!chart) {
    chart = createPowerChart(dom.chart, {
      label: 'Power',
      grow: true,
      onStats: (st) => setText(dom.powerMeta, st.now == null ? 'this supply, kW'
        : `this supply · now ${st.now.toFixed(2)} kW · peak ${st.peak.toFixed(2)} kW`),
    });
  }
  return chart;
}

/* ------------------------------------------------------------------ views */

function showView(which) {
  dom.body.classList.remove('booting');
  dom.loginView.hidden = which !== 'login';
  dom.consoleView.hidden = which !== 'console';
  dom.userBox.hidden = which !== 'console';
  dom.pill.hidden = which !== 'console';
  dom.topInfo.hidden = which !== 'console';
  if (which === 'login') setTimeout(() => dom.loginPassword.focus(), 0);
  if (which === 'console' && chart) chart.refresh();
}

function setConn(state, text) {
  setAttr(dom.pill, 'data-conn', state);
  setText(dom.pillText, text);
}

/** The banner: who is away (EV_Driver itself, or CENTRAL behind it). */
function setBanner(title, detail) {
  dom.banner.hidden = !title;
  if (title) {
    setText(dom.bannerTitle, title);
    setText(dom.bannerDetail, detail || '');
  }
  dom.consoleView.classList.toggle('stale', !!title);
}

/* ------------------------------------------------------------------ rendering */

function requestActive() {
  const st = S.status;
  return !!(st && st.request_state && st.request_state !== 'idle');
}

function renderStatus() {
  const st = S.status || {};
  const bal = typeof st.balance_cents === 'number' ? fmt.eur(st.balance_cents) : '—';
  setText(dom.figBalance, bal);
  setText(dom.topBalance, bal);
  setAttr(dom.figBalance, 'data-tone', typeof st.balance_cents === 'number' && st.balance_cents < 0 ? 'bad' : null);
  setText(dom.topCentral, st.central_connected ? 'connected' : 'unreachable');
  if (ws && ws.connected) {
    if (!st.central_connected) {
      setConn('down', 'CENTRAL away');
      setBanner('Unable to connect to CENTRAL', 'EV_Driver keeps trying; requests wait until CENTRAL is back.');
    } else if (st.auth === 'refused') {
      setConn('connecting', 'Not logged in');
      setBanner('CENTRAL refused the login', st.auth_reason || '');
    } else {
      setConn('up', 'Live');
      setBanner(null);
    }
  }
  const active = requestActive();
  dom.anyCp.disabled = active || S.busy || !!st.services_running;
  dom.stop.disabled = S.busy || !(active && ['sent', 'in progress'].includes(st.request_state));
  renderTiles();
}

function tileFor(cp) {
  let tile = dom.grid.querySelector(`.cp-tile[data-cp="${CSS.escape(cp.cp_id)}"]`);
  if (tile) return tile;
  const r = {};
  tile = el('article', { class: 'cp-tile', dataset: { cp: cp.cp_id, state: 'DISCONNECTED' } });
  r.state = el('span', { class: 'cp-state' });
  r.location = el('div', { class: 'cp-location' });
  r.price = el('div', { class: 'cp-price' });
  r.request = el('button', { type: 'button', class: 'btn cp-request', 'aria-label': `Request ${cp.cp_id}` }, 'Request');
  r.request.addEventListener('click', () => request(cp.cp_id));
  tile.append(el('header', { class: 'cp-head' }, el('span', { class: 'cp-id' }, cp.cp_id), r.state),
    r.location, r.price, el('div', { class: 'cp-actions' }, r.request));
  tile._refs = r;
  return tile;
}

function renderTiles() {
  const list = [...S.cps].sort((a, b) => String(a.cp_id).localeCompare(String(b.cp_id), undefined, { numeric: true }));
  const keep = new Set(list.map((c) => c.cp_id));
  for (const t of [...dom.grid.children]) if (!keep.has(t.dataset.cp)) t.remove();
  const active = requestActive();
  const mine = S.supply && !S.supply.ended ? S.supply.cp_id : null;
  let usable = 0;
  list.forEach((cp, i) => {
    const tile = tileFor(cp);
    const r = tile._refs;
    const state = STATES.includes(cp.state) ? cp.state : 'DISCONNECTED';
    setAttr(tile, 'data-state', state);
    setText(r.state, STATE_WORDS[state]);
    setText(r.location, cp.location || '—');
    setAttr(r.location, 'title', cp.location || null);
    setText(r.price, fmt.pricePerKwh(cp.price_cents_per_kwh));
    tile.classList.toggle('mine', cp.cp_id === mine);
    if (state === 'ACTIVATED') usable += 1;
    r.request.disabled = state !== 'ACTIVATED' || active || S.busy || !!S.status?.services_running;
    if (dom.grid.children[i] !== tile) dom.grid.insertBefore(tile, dom.grid.children[i] || null);
  });
  dom.cpEmpty.hidden = list.length > 0;
  setText(dom.cpCount, list.length ? `${usable} of ${list.length} available` : '');
}

/** The stages of a supply, with what CENTRAL said at each (docs/PROTOCOL.md M6). */
function stages(sup) {
  const got = new Map();
  for (const s of sup.steps || []) got.set(s.step, s);
  const names = ['received', 'checking'];
  if (got.has('denied')) names.push('denied');
  else {
    names.push('authorised', 'plug_in', 'supplying');
    if (got.has('stopping')) names.push('stopping');
    if (got.has('interrupted')) names.push('interrupted');
    names.push('ended');
  }
  const arrived = names.filter((n) => got.has(n));
  const last = arrived[arrived.length - 1];
  return names.map((n) => {
    const s = got.get(n);
    let status = 'pending';
    if (s) {
      if (n === 'denied') status = 'failed';
      else if (n === 'interrupted' || n === 'stopping') status = 'warn';
      else status = n === last && n !== 'ended' && !sup.ended ? 'current' : 'done';
    }
    let text = '';
    if (s) text = s.reason ? (s.reason_words || s.reason) : (n === 'plug_in' ? `at ${sup.cp_id}` : s.text || '');
    return { name: n, s, status, text };
  });
}

function renderSupply() {
  const sup = S.supply;
  dom.supplyEmpty.hidden = !!sup;
  dom.steps.hidden = !sup;
  if (!sup) {
    dom.steps.replaceChildren();
    dom.ticket.hidden = true;
    setText(dom.supplyMeta, '');
    setText(dom.figState, '—');
    setText(dom.figCp, 'no supply');
    renderLive();
    return;
  }
  const cp = sup.cp_id === '*' ? 'any free CP' : sup.cp_id;
  setText(dom.supplyMeta, `${cp} · session ${sup.session_id}`);
  setText(dom.figCp, cp);
  const list = stages(sup);
  const items = list.map((st) => el('li', { class: 'step', dataset: { step: st.name, status: st.status } },
    el('span', { class: 'step-name' }, STEP_WORDS[st.name] || st.name),
    el('span', { class: 'step-time' }, st.s ? fmt.time(st.s.ts) : '—'),
    st.text ? el('span', { class: 'step-text' }, st.text) : null));
  dom.steps.replaceChildren(...items);
  const denied = list.find((x) => x.name === 'denied' && x.s);
  const cur = [...list].reverse().find((x) => x.s);
  setText(dom.figState, denied ? 'Denied' : sup.ticket ? 'Ended' : cur ? STEP_WORDS[cur.name] : 'Sent');
  setAttr(dom.figState, 'data-tone', denied ? 'bad' : cur && cur.name === 'supplying' && !sup.ended ? 'good' : null);
  renderTicket(sup.ticket);
  renderLive();
}

function renderTicket(t) {
  dom.ticket.hidden = !t;
  if (!t) return;
  const row = (k, v) => [el('dt', {}, k), el('dd', {}, v)];
  dom.ticket.replaceChildren(
    el('h3', {}, `Ticket · ${t.cp_id}`),
    el('dl', {},
      ...row('Energy', fmt.kwh(t.wh)), ...row('Amount', fmt.eur(t.cents)),
      ...row('Price', fmt.pricePerKwh(t.price_cents_per_kwh)), ...row('Duration', clock(t.duration_s * 1000)),
      ...row('Start', fmt.time(t.started_at)), ...row('End', fmt.time(t.ended_at)),
      ...row('Reason', t.reason_words || t.reason || '—'),
      ...row('Balance', typeof t.balance_cents === 'number' ? fmt.eur(t.balance_cents) : '—'),
      el('dd', { class: 'ticket-session' }, `session ${t.session_id}`)));
}

const pad2 = (n) => String(n).padStart(2, '0');
function clock(ms) {
  const s = Math.max(0, Math.floor((Number(ms) || 0) / 1000));
  return `${Math.floor(s / 3600)}:${pad2(Math.floor(s / 60) % 60)}:${pad2(s % 60)}`;
}

function renderLive() {
  const sup = S.supply;
  if (!sup) {
    for (const n of [dom.kw, dom.kwh, dom.eur, dom.elapsed]) setText(n, '—');
    return;
  }
  setText(dom.kw, fmt.kw(sup.ended ? 0 : sup.w));
  setText(dom.kwh, fmt.kwh(sup.wh));
  setText(dom.eur, fmt.eur(sup.cents));
  let ms = 0;
  if (sup.ticket && sup.ticket.duration_s) ms = sup.ticket.duration_s * 1000;
  else if (sup.started_at) ms = (sup.ended ? sup.ended_at_local || Date.now() : Date.now()) - sup.started_at;
  setText(dom.elapsed, sup.started_at || sup.ticket ? clock(ms) : '—');
}

function addActivity(line, fresh) {
  const li = el('li', { dataset: { kind: String(line.kind ?? 0) } },
    el('span', { class: 'act-time' }, fmt.time(line.ts)), el('span', { class: 'act-text' }, line.text));
  dom.activity.prepend(li);
  while (dom.activity.children.length > ACTIVITY_MAX) dom.activity.lastElementChild.remove();
  if (fresh) li.classList.add('new');
}

function renderHistory() {
  const rows = S.history.map((t) => el('tr', { dataset: { session: t.session_id } },
    el('td', { title: fmt.dateTime(t.ended_at) }, `${new Date(t.ended_at).toLocaleDateString()} ${fmt.time(t.ended_at)}`),
    el('td', { class: 'mono' }, t.cp_id),
    el('td', { class: 'num' }, (t.wh / 1000).toFixed(3)),
    el('td', { class: 'num' }, (t.cents / 100).toFixed(2)),
    el('td', { title: t.reason_words || '' }, t.reason_words || t.reason || '—')));
  dom.history.tBodies[0].replaceChildren(...rows);
  dom.historyEmpty.hidden = S.history.length > 0;
  dom.historyOlder.hidden = !S.historyMore;
  setText(dom.historyMeta, S.history.length ? `${S.history.length} shown${S.historyMore ? ', more older' : ''}` : '');
}

async function loadHistory(older) {
  if (S.historyBusy) return;
  S.historyBusy = true;
  dom.historyOlder.disabled = true;
  let q = `/api/history?limit=${HISTORY_PAGE}`;
  const last = S.history[S.history.length - 1];
  if (older && last) q += `&before=${last.ended_at}&before_session_id=${encodeURIComponent(last.session_id)}`;
  const r = await api('GET', q);
  S.historyBusy = false;
  dom.historyOlder.disabled = false;
  if (r.status !== 200) {
    if (r.status !== 401) setText(dom.historyMeta, errorText(r));
    return;
  }
  const got = Array.isArray(r.body.tickets) ? r.body.tickets : [];
  S.history = older ? [...S.history, ...got.filter((t) => !S.history.some((h) => h.session_id === t.session_id))] : got;
  S.historyMore = !!r.body.more;
  renderHistory();
}

/* ------------------------------------------------------------------ actions */

async function request(cpId) {
  if (S.busy) return;
  S.busy = true;
  renderStatus();
  const r = await api('POST', '/api/request', { cp_id: cpId });
  S.busy = false;
  if (r.status === 202) toast(cpId === '*' ? 'Request sent: CENTRAL picks a free charging point' : `Request sent for ${cpId}`, 'ok');
  else toast(errorText(r), 'error');
  renderStatus();
}

async function stopSupply() {
  if (S.busy) return;
  S.busy = true;
  renderStatus();
  const r = await api('POST', '/api/stop', {});
  S.busy = false;
  if (r.status === 202) toast('Stop requested: the supply ends and is billed', 'ok');
  else toast(errorText(r), 'error');
  renderStatus();
}

/* ------------------------------------------------------------------ messages */

function onSnapshot(m) {
  S.driver = m.driver_id;
  setText(dom.whoami, m.driver_id);
  S.status = m.status || null;
  S.cps = Array.isArray(m.cps) ? m.cps : [];
  S.supply = m.supply || null;
  dom.activity.replaceChildren();
  for (const l of m.lines || []) addActivity(l, false);
  renderSupply();
  renderStatus();
  ensureChart().reset(S.supply ? S.supply.power : [], m.now);
  setText(dom.lastUpdate, fmt.time(m.now));
  loadHistory(false);
}

function onMessage(m) {
  switch (m.type) {
    case 'status':
      S.status = m;
      renderStatus();
      break;
    case 'supply': {
      const fresh = !S.supply || !m.supply || S.supply.session_id !== m.supply.session_id;
      S.supply = m.supply;
      if (fresh) ensureChart().reset(S.supply ? S.supply.power : [], Date.now());
      renderSupply();
      renderTiles();
      break;
    }
    case 'telemetry':
      if (S.supply && S.supply.session_id === m.session_id) {
        Object.assign(S.supply, { w: m.w, wh: m.wh, cents: m.cents, started_at: m.started_at, cp_id: m.cp_id });
        ensureChart().push([m.ts, m.w], m.ts);
        renderLive();
      }
      break;
    case 'ticket':
      if (S.supply && m.ticket && S.supply.session_id === m.ticket.session_id) {
        S.supply.ticket = m.ticket;
        S.supply.ended = true;
        renderSupply();
      }
      if (m.ticket) toast(`Ticket ${m.ticket.cp_id}: ${fmt.kwh(m.ticket.wh)}, ${fmt.eur(m.ticket.cents)}`, 'ok');
      loadHistory(false);
      break;
    case 'cps':
      S.cps = Array.isArray(m.cps) ? m.cps : [];
      renderTiles();
      break;
    case 'line':
      addActivity(m, true);
      break;
    case 'notice':
      toast(m.text, m.level === 'warn' ? 'error' : 'info');
      break;
    case 'tick':
      setText(dom.lastUpdate, fmt.time(m.now));
      renderLive();
      break;
    default:
      break; // a newer EV_Driver may send more
  }
}

let ws = null;
let sessionCheck = null;

async function onWsState(state, info) {
  if (state === 'up') {
    renderStatus();
    return;
  }
  setConn('connecting', 'Reconnecting');
  if (sessionCheck) return;
  // Down: EV_Driver away, or our session over? Ask once per failure streak step.
  sessionCheck = api('GET', '/api/session', undefined, { timeoutMs: 3000 });
  const r = await sessionCheck;
  sessionCheck = null;
  if (r.status === 401) {
    ws.stop();
    clearCsrfToken();
    dom.loginError.textContent = info.everUp ? 'Your session ended: sign in again.' : '';
    showView('login');
    return;
  }
  if (r.status === 0) {
    setConn('down', 'EV_Driver away');
    setBanner('Unable to connect to EV_Driver', 'Retrying… the data below is the last known state.');
  } else if (r.status === 503) {
    setBanner('Unable to connect to CENTRAL', errorText(r));
  }
}

function startConsole() {
  showView('console');
  if (!ws) ws = createWsClient({ path: '/ws/driver', onSnapshot, onMessage, onState: onWsState });
  ws.start();
}

async function boot() {
  const info = await api('GET', '/api/info');
  if (info.status === 200) {
    S.driver = info.body.driver_id;
    setText(dom.loginDriver, S.driver);
    dom.loginUser.value = S.driver || '';
  }
  const r = await api('GET', '/api/session');
  if (r.status === 200) {
    startConsole();
  } else if (r.status === 401) {
    showView('login');
  } else {
    // EV_Driver away or still logging in to CENTRAL: try again shortly.
    showView('login');
    dom.loginError.textContent = r.status === 0 ? 'Unable to connect to EV_Driver: retrying…' : errorText(r);
    setTimeout(boot, 1000);
  }
}

dom.loginForm.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  dom.loginError.textContent = '';
  const password = dom.loginPassword.value;
  if (!password) {
    dom.loginError.textContent = 'Type your password.';
    return;
  }
  dom.loginSubmit.disabled = true;
  setText(dom.loginSubmit, 'Checking with CENTRAL…');
  const r = await api('POST', '/api/login', { password }, { timeoutMs: 20000 });
  dom.loginSubmit.disabled = false;
  setText(dom.loginSubmit, 'Sign in');
  if (r.status === 200) {
    dom.loginPassword.value = '';
    startConsole();
  } else {
    dom.loginError.textContent = r.status === 401 ? 'Wrong password (CENTRAL refused it).' : errorText(r);
    dom.loginPassword.select();
  }
});

dom.logout.addEventListener('click', async () => {
  await api('POST', '/api/logout', {});
  if (ws) ws.stop();
  clearCsrfToken();
  S.supply = null;
  showView('login');
});

dom.anyCp.addEventListener('click', () => request('*'));
dom.stop.addEventListener('click', stopSupply);
dom.historyOlder.addEventListener('click', () => loadHistory(true));
dom.historyRefresh.addEventListener('click', () => loadHistory(false));
document.addEventListener('visibilitychange', () => {
  if (!document.hidden && ws) ws.retryNow();
});
setInterval(() => { if (S.supply && !S.supply.ended) renderLive(); }, 1000);

boot();
