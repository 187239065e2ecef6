// EVCharging - Central: the admin console.
// Live over the WebSocket /ws/admin: each `snapshot` is the whole truth (the state is
// rebuilt), `cps` merges CPs by id, `tick` replaces supplies and figures and adds a chart
// point, `event`/`ticket` are appended, `users` replaces the users table.
import { api, errorText, clearCsrfToken } from './shared/api.js';
import { createWsClient } from './shared/ws.js';
import { el, setText, $, toast as showToast } from './shared/dom.js';
import * as fmt from './shared/fmt.js';
import * as view from './view.js';
import { createPowerChart } from './shared/power-chart.js';

const TICKETS_MAX = 20;

/* ------------------------------------------------------------------ state */

const S = {
  user: null,
  role: null,
  cps: new Map(), // id -> CP (as last sent by Central)
  live: new Map(), // cp_id -> {w, wh, cents, driver_id}: the freshest supply figures for a tile
  supplies: [],
  figures: null,
  tickets: [],
  users: [],
  central: null,
  eventTypes: new Set(),
  busy: new Map(), // CP id -> 'stop' | 'resume' | 'reset' while that request is in flight
};

const dom = {
  body: document.body,
  loginView: $('#login-view'),
  loginForm: $('#login-form'),
  loginUser: $('#login-user'),
  loginPassword: $('#login-password'),
  loginSubmit: $('#login-submit'),
  loginError: $('#login-error'),
  consoleView: $('#console-view'),
  userBox: $('#user-box'),
  whoami: $('#whoami'),
  whoamiRole: $('#whoami-role'),
  logout: $('#logout'),
  pill: $('#conn-pill'),
  pillText: $('#conn-pill-text'),
  banner: $('#conn-banner'),
  bannerDetail: $('#conn-banner-detail'),
  centralInfo: $('#central-info'),
  centralStarted: $('#central-started'),
  centralRegistration: $('#central-registration'),
  lastUpdate: $('#last-update'),
  grid: $('#cp-grid'),
  cpEmpty: $('#cp-empty'),
  cpCount: $('#cp-count'),
  stopAll: $('#stop-all'),
  resumeAll: $('#resume-all'),
  supplies: $('#supplies'),
  suppliesEmpty: $('#supplies-empty'),
  suppliesCount: $('#supplies-count'),
  tickets: $('#tickets'),
  ticketsEmpty: $('#tickets-empty'),
  users: $('#users'),
  usersCount: $('#users-count'),
  events: $('#events'),
  eventsCount: $('#events-count'),
  filterType: $('#event-filter-type'),
  filterCp: $('#event-filter-cp'),
  chart: $('#power-chart'),
  powerMeta: $('#h-power').nextElementSibling,
  regForm: $('#register-form'),
  regId: $('#reg-id'),
  regLocation: $('#reg-location'),
  regPrice: $('#reg-price'),
  regSubmit: $('#reg-submit'),
  regError: $('#reg-error'),
  regSecret: $('#reg-secret'),
  regMeta: null,
  confirm: $('#confirm'),
  confirmTitle: $('#confirm-title'),
  confirmText: $('#confirm-text'),
  confirmOk: $('#confirm-ok'),
  confirmCancel: $('#confirm-cancel'),
  toasts: $('#toasts'),
};

/* ------------------------------------------------------------------ toasts */

const toast = (text, kind, ms) => showToast(dom.toasts, text, kind, ms);

/* ------------------------------------------------------------------ chart */

let chart = null;
function ensureChart() {
  if (!chart) {
    let hovering = false;
    let lastStats = { now: null, peak: null };
    const showStats = () => {
      const { now, peak } = lastStats;
      setText(dom.powerMeta, now == null
        ? 'last 10 minutes'
        : `last 10 min · now ${now.toFixed(2)} kW · peak ${peak.toFixed(2)} kW`);
    };
    chart = createPowerChart(dom.chart, {
      label: 'Total power',
      onStats: (st) => {
        lastStats = st;
        if (!hovering) showStats();
      },
      onHover: (pt) => {
        hovering = !!pt;
        if (pt) setText(dom.powerMeta, `${fmt.time(pt.x * 1000)} · ${pt.y.toFixed(2)} kW`);
        else showStats();
      },
    });
  }
  return chart;
}

/* ------------------------------------------------------------------ rendering */

const tileHandlers = {
  onStop: (id) => cpAction(id, 'stop'),
  onResume: (id) => cpAction(id, 'resume'),
  onReset: (id) => confirmReset(id),
};

function renderAllTiles() {
  view.renderTiles(dom.grid, S.cps, S.live, S.busy, tileHandlers);
  dom.cpEmpty.hidden = S.cps.size > 0;
  setText(dom.cpCount, S.cps.size ? `${S.cps.size} registered` : '');
}

function renderFigures(useLocalStates) {
  const byState = useLocalStates || !S.figures?.cps_by_state ? view.countStates(S.cps) : null;
  view.renderFigures(S.figures, byState, useLocalStates || !S.figures ? S.cps.size : undefined);
}

function renderSupplies() {
  const n = view.renderSupplies(dom.supplies, S.supplies);
  dom.suppliesEmpty.hidden = n > 0;
  setText(dom.suppliesCount, n ? `${n} open` : '');
}

function renderTickets() {
  view.renderTickets(dom.tickets, S.tickets);
  dom.ticketsEmpty.hidden = S.tickets.length > 0;
}

function renderUsers() {
  const n = view.renderUsers(dom.users, S.users);
  const drivers = S.users.filter((u) => u.role === 'driver').length;
  setText(dom.usersCount, n ? `${n} (${drivers} drivers)` : '');
}

function renderCentral(now) {
  const c = S.central || {};
  setText(dom.centralStarted, c.started_at ? fmt.time(c.started_at) : '—');
  dom.centralStarted.title = c.started_at ? `${fmt.dateTime(c.started_at)} (${fmt.duration((now || Date.now()) - c.started_at)} ago)` : '';
  setText(dom.centralRegistration, c.registration || '—');
  if (dom.regMeta) {
    setText(dom.regMeta, c.registration === 'open'
      ? 'Registration is open: CPs may also register themselves when they first connect.'
      : c.registration === 'closed'
        ? 'Registration is closed: a CP must be registered here before it can connect.' : '');
    dom.regMeta.hidden = !c.registration;
  }
}

function markUpdate(now) {
  setText(dom.lastUpdate, fmt.time(now || Date.now()));
}

/* live figures of a tile: from the CP itself, or the freshest supply that names it */
function liveFromCp(cp) {
  if (cp && (cp.w !== undefined || cp.cents !== undefined || cp.driver_id)) {
    return { w: cp.w, wh: cp.wh, cents: cp.cents, driver_id: cp.driver_id };
  }
  return null;
}

function liveFromSupplies(supplies) {
  const changed = [];
  for (const s of supplies) {
    if (!s.cp_id) continue;
    const prev = S.live.get(s.cp_id);
    const next = { w: s.w, wh: s.wh, cents: s.cents, driver_id: s.driver_id };
    if (!prev || prev.w !== next.w || prev.cents !== next.cents || prev.driver_id !== next.driver_id || prev.wh !== next.wh) {
      S.live.set(s.cp_id, next);
      changed.push(s.cp_id);
    }
  }
  return changed;
}

/* ------------------------------------------------------------------ events */

let eventsTotal = 0;

function currentFilter() {
  return { type: dom.filterType.value, cp: dom.filterCp.value.trim().toLowerCase() };
}

function noteEventType(type) {
  if (!type || S.eventTypes.has(type)) return;
  S.eventTypes.add(type);
  const opt = el('option', { value: type }, type);
  const after = Array.from(dom.filterType.options).slice(1).find((o) => o.value.localeCompare(type) > 0);
  dom.filterType.insertBefore(opt, after || null);
}

function addEvent(ev, isNew) {
  if (!ev || typeof ev !== 'object') return;
  noteEventType(ev.type);
  const li = view.eventNode(ev, isNew);
  const f = currentFilter();
  li.hidden = !view.eventMatches(li, f.type, f.cp);
  dom.events.prepend(li);
  while (dom.events.children.length > view.MAX_EVENTS) dom.events.lastElementChild.remove();
  eventsTotal = dom.events.children.length;
}

function applyEventFilter() {
  const f = currentFilter();
  let shown = 0;
  for (const li of dom.events.children) {
    const ok = view.eventMatches(li, f.type, f.cp);
    li.hidden = !ok;
    if (ok) shown += 1;
  }
  updateEventsCount(shown);
}

function updateEventsCount(shown) {
  const f = currentFilter();
  if (f.type || f.cp) {
    const n = shown ?? Array.from(dom.events.children).filter((li) => !li.hidden).length;
    setText(dom.eventsCount, `${n} of ${eventsTotal} shown`);
  } else {
    setText(dom.eventsCount, eventsTotal ? `${eventsTotal} latest` : '');
  }
}

/* ------------------------------------------------------------------ messages */

function onSnapshot(m) {
  S.central = m.central || null;
  S.cps = new Map((m.cps || []).map((cp) => [cp.id, cp]));
  S.live = new Map();
  for (const cp of S.cps.values()) {
    const l = liveFromCp(cp);
    if (l) S.live.set(cp.id, l);
  }
  S.supplies = Array.isArray(m.supplies) ? m.supplies : [];
  liveFromSupplies(S.supplies);
  S.figures = m.figures || null;
  S.tickets = (m.tickets || []).slice(0, TICKETS_MAX);
  S.users = Array.isArray(m.users) ? m.users : [];

  dom.grid.replaceChildren();
  renderAllTiles();
  renderFigures(false);
  renderSupplies();
  renderTickets();
  renderUsers();
  renderCentral(m.now);

  // events: the snapshot's are oldest first; the list shows newest on top
  const keepType = dom.filterType.value;
  dom.events.replaceChildren();
  S.eventTypes = new Set();
  while (dom.filterType.options.length > 1) dom.filterType.remove(1);
  eventsTotal = 0;
  for (const ev of m.events || []) addEvent(ev, false);
  if (keepType && !S.eventTypes.has(keepType)) noteEventType(keepType);
  dom.filterType.value = keepType;
  applyEventFilter();

  ensureChart().reset(m.power, m.now);
  markUpdate(m.now);
}

function onMessage(m) {
  switch (m.type) {
    case 'cps': {
      const ids = [];
      for (const cp of m.cps || []) {
        if (!cp || !cp.id) continue;
        S.cps.set(cp.id, cp);
        const l = liveFromCp(cp);
        if (l) S.live.set(cp.id, l);
        else S.live.delete(cp.id);
        ids.push(cp.id);
      }
      view.renderSomeTiles(dom.grid, ids, S.cps, S.live, S.busy, tileHandlers);
      dom.cpEmpty.hidden = S.cps.size > 0;
      setText(dom.cpCount, S.cps.size ? `${S.cps.size} registered` : '');
      renderFigures(true);
      break;
    }
    case 'tick': {
      S.supplies = Array.isArray(m.supplies) ? m.supplies : [];
      const changed = liveFromSupplies(S.supplies);
      if (changed.length) view.renderSomeTiles(dom.grid, changed, S.cps, S.live, S.busy, tileHandlers);
      if (m.figures) S.figures = m.figures;
      renderFigures(false);
      renderSupplies();
      if (m.power) ensureChart().push(m.power, m.now);
      renderCentral(m.now);
      markUpdate(m.now);
      break;
    }
    case 'event':
      addEvent(m.event, true);
      updateEventsCount();
      break;
    case 'ticket': {
      const t = m.ticket;
      if (!t) break;
      S.tickets = [t, ...S.tickets.filter((x) => x.session_id !== t.session_id)].slice(0, TICKETS_MAX);
      renderTickets();
      break;
    }
    case 'users':
      S.users = Array.isArray(m.users) ? m.users : [];
      renderUsers();
      break;
    default:
      break; // a newer Central may send more: ignore what we do not know
  }
}

/* ------------------------------------------------------------------ connection */

let sessionCheck = null;
let lastSessionCheckAt = 0;

function setConn(state, text) {
  dom.pill.dataset.conn = state;
  setText(dom.pillText, text);
}

function onWsState(state, info) {
  if (!S.user) return;
  if (state === 'up') {
    setConn('up', 'Live');
    dom.banner.hidden = true;
    dom.consoleView.classList.remove('stale');
    return;
  }
  setConn('down', 'Disconnected');
  dom.banner.hidden = false;
  dom.consoleView.classList.add('stale');
  // A refused upgrade looks like a lost connection: after a couple of failures ask
  // /api/session whether the session is still there (401/403) or Central is away.
  if (info.failures >= 2) checkSession();
}

async function checkSession() {
  if (sessionCheck || Date.now() - lastSessionCheckAt < 2500) return;
  lastSessionCheckAt = Date.now();
  const user = S.user;
  sessionCheck = api('GET', '/api/session', undefined, { timeoutMs: 4000 });
  const r = await sessionCheck;
  sessionCheck = null;
  if (S.user !== user || !S.user) return;
  if (r.status === 401) {
    leaveConsole('Your session has ended. Please sign in again.');
  } else if (r.status === 403 || (r.status === 200 && r.body.role !== 'admin')) {
    leaveConsole('Administrators only');
  } else if (r.status === 0) {
    setText(dom.bannerDetail, 'Central is away. Retrying… the data below is the last known state.');
  } else {
    setText(dom.bannerDetail, 'Retrying… the data below is the last known state.');
  }
}

const ws = createWsClient({
  path: '/ws/admin',
  onSnapshot,
  onMessage,
  onState: onWsState,
});

document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible') ws.retryNow();
});
window.addEventListener('online', () => ws.retryNow());

/* ------------------------------------------------------------------ views */

function showLogin(message) {
  dom.body.classList.remove('booting');
  dom.consoleView.hidden = true;
  dom.userBox.hidden = true;
  dom.pill.hidden = true;
  dom.centralInfo.hidden = true;
  dom.banner.hidden = true;
  dom.loginView.hidden = false;
  setText(dom.loginError, message || '');
  dom.loginSubmit.disabled = false;
  (dom.loginUser.value ? dom.loginPassword : dom.loginUser).focus();
}

function enterConsole(session) {
  S.user = session.user;
  S.role = session.role;
  setText(dom.whoami, session.user);
  setText(dom.whoamiRole, session.role);
  dom.whoamiRole.className = `badge badge-${session.role}`;
  dom.body.classList.remove('booting');
  dom.loginView.hidden = true;
  setText(dom.loginError, '');
  dom.loginPassword.value = '';
  dom.consoleView.hidden = false;
  dom.consoleView.classList.remove('stale');
  dom.userBox.hidden = false;
  dom.pill.hidden = false;
  dom.centralInfo.hidden = false;
  dom.banner.hidden = true;
  setText(dom.bannerDetail, 'Retrying… the data below is the last known state.');
  setConn('connecting', 'Connecting…');
  ensureChart().refresh();
  ws.start();
}

function resetConsole() {
  S.cps = new Map();
  S.live = new Map();
  S.supplies = [];
  S.figures = null;
  S.tickets = [];
  S.users = [];
  S.central = null;
  S.busy.clear();
  dom.grid.replaceChildren();
  dom.events.replaceChildren();
  eventsTotal = 0;
  S.eventTypes = new Set();
  while (dom.filterType.options.length > 1) dom.filterType.remove(1);
  dom.filterType.value = '';
  dom.filterCp.value = '';
  renderSupplies();
  renderTickets();
  renderUsers();
  renderFigures(true);
  hideSecret();
  setText(dom.regError, '');
  if (chart) chart.reset([], Date.now());
}

function leaveConsole(message) {
  ws.stop();
  S.user = null;
  S.role = null;
  clearCsrfToken();
  if (dom.confirm.open) dom.confirm.close();
  resetConsole();
  showLogin(message);
}

/* ------------------------------------------------------------------ boot */

async function boot() {
  const r = await api('GET', '/api/session');
  if (r.status === 200 && r.body.role === 'admin') {
    enterConsole(r.body);
  } else if (r.status === 200 || r.status === 403) {
    showLogin('Administrators only');
  } else if (r.status === 0) {
    showLogin('Unable to connect to CENTRAL. Retrying…');
    setTimeout(() => { if (!S.user && !loginInFlight) boot(); }, 3000);
  } else {
    showLogin(r.status === 401 ? '' : errorText(r));
  }
}

/* ------------------------------------------------------------------ login / logout */

let loginInFlight = false;

dom.loginForm.addEventListener('submit', async (e) => {
  e.preventDefault();
  const user = dom.loginUser.value.trim();
  const password = dom.loginPassword.value;
  if (!user || !password) {
    setText(dom.loginError, 'Enter your user and password');
    return;
  }
  loginInFlight = true;
  dom.loginSubmit.disabled = true;
  setText(dom.loginSubmit, 'Signing in…');
  setText(dom.loginError, '');
  const r = await api('POST', '/api/login', { user, password });
  loginInFlight = false;
  dom.loginSubmit.disabled = false;
  setText(dom.loginSubmit, 'Sign in');
  if (r.status === 200) {
    if (r.body.role === 'admin') {
      enterConsole(r.body);
    } else {
      // A driver's credentials are right but this console is not theirs: drop that session.
      await api('POST', '/api/logout', {});
      clearCsrfToken();
      dom.loginPassword.value = '';
      setText(dom.loginError, 'Administrators only');
    }
    return;
  }
  dom.loginPassword.value = '';
  dom.loginPassword.focus();
  if (r.status === 401) {
    setText(dom.loginError, 'Wrong user or password');
  } else if (r.status === 403) {
    setText(dom.loginError, 'Administrators only');
  } else if (r.status === 429) {
    const after = parseInt(r.headers.get('Retry-After') || r.body.retry_after_s || '', 10);
    setText(dom.loginError, Number.isFinite(after)
      ? `Too many failed logins: try again in ${after} s`
      : 'Too many failed logins: try again later');
  } else {
    setText(dom.loginError, errorText(r));
  }
});

dom.logout.addEventListener('click', async () => {
  dom.logout.disabled = true;
  await api('POST', '/api/logout', {});
  dom.logout.disabled = false;
  leaveConsole('');
});

/** Answers that mean the session is gone: back to the login view. */
function sessionLost(r) {
  if (r.status === 401) {
    leaveConsole('Your session has ended. Please sign in again.');
    return true;
  }
  return false;
}

/* ------------------------------------------------------------------ CP actions */

async function cpAction(id, action) {
  if (S.busy.get(id) === action) return;
  S.busy.set(id, action);
  view.renderSomeTiles(dom.grid, [id], S.cps, S.live, S.busy, tileHandlers);
  const r = await api('POST', `/api/cps/${encodeURIComponent(id)}/${action}`, {});
  S.busy.delete(id);
  if (sessionLost(r)) return;
  view.renderSomeTiles(dom.grid, [id], S.cps, S.live, S.busy, tileHandlers);
  const word = { stop: 'Stop', resume: 'Resume', reset: 'Reset' }[action];
  // A reset is sent, not confirmed (202): what follows shows on the tile.
  if (action === 'reset' && r.status === 202) toast(`Reset sent to ${id}`, 'ok', 3000);
  else if (r.status !== 200) toast(`${word} ${id}: ${errorText(r)}`, 'error');
}

let pendingConfirm = null;

function confirmReset(id) {
  const supplying = S.cps.get(id)?.state === 'SUPPLYING';
  askConfirm({
    title: `Reset ${id}?`,
    text: (supplying ? 'The supply in progress will end and be billed. ' : '')
      + 'The charging point restarts its charging software (a soft reset: an OCPP charger '
      + 'reboots); its Out of Order state, if any, stays.',
    okText: 'Reset',
    action: () => cpAction(id, 'reset'),
  });
}

function askConfirm({ title, text, okText, action }) {
  setText(dom.confirmTitle, title);
  setText(dom.confirmText, text);
  setText(dom.confirmOk, okText);
  pendingConfirm = action;
  if (!dom.confirm.open) dom.confirm.showModal();
  dom.confirmCancel.focus();
}

dom.confirmCancel.addEventListener('click', () => {
  pendingConfirm = null;
  dom.confirm.close();
});
dom.confirm.addEventListener('close', () => { pendingConfirm = null; });
dom.confirmOk.addEventListener('click', () => {
  const action = pendingConfirm;
  pendingConfirm = null;
  dom.confirm.close();
  if (action) action();
});

async function allAction(action) {
  const btn = action === 'stop-all' ? dom.stopAll : dom.resumeAll;
  btn.disabled = true;
  const r = await api('POST', `/api/cps/${action}`, {});
  btn.disabled = false;
  if (sessionLost(r)) return;
  if (r.status !== 200) {
    toast(`${action === 'stop-all' ? 'Stop all' : 'Resume all'}: ${errorText(r)}`, 'error');
    return;
  }
  const n = Number(r.body.changed) || 0;
  toast(`${action === 'stop-all' ? 'Stopped' : 'Resumed'} ${n} charging point${n === 1 ? '' : 's'}`, 'ok', 3000);
}

dom.stopAll.addEventListener('click', () => {
  const inService = Array.from(S.cps.values()).filter((c) => c.admin_state !== 'STOPPED').length;
  const supplying = Array.from(S.cps.values()).filter((c) => c.state === 'SUPPLYING').length;
  askConfirm({
    title: 'Stop all charging points?',
    text: `${inService} charging point${inService === 1 ? '' : 's'} will be put Out of Order`
      + (supplying ? `; ${supplying} ${supplying === 1 ? 'supply' : 'supplies'} in progress will end and be billed.` : '.')
      + ' Drivers cannot start new supplies until you resume them.',
    okText: 'Stop all',
    action: () => allAction('stop-all'),
  });
});

dom.resumeAll.addEventListener('click', () => {
  const stopped = Array.from(S.cps.values()).filter((c) => c.admin_state === 'STOPPED').length;
  askConfirm({
    title: 'Resume all charging points?',
    text: `${stopped} stopped charging point${stopped === 1 ? '' : 's'} will return to service.`,
    okText: 'Resume all',
    action: () => allAction('resume-all'),
  });
});

/* ------------------------------------------------------------------ register */

dom.regMeta = $('#reg-note');

function hideSecret() {
  dom.regSecret.hidden = true;
  dom.regSecret.replaceChildren();
}

function selectText(node) {
  const range = document.createRange();
  range.selectNodeContents(node);
  const sel = window.getSelection();
  sel.removeAllRanges();
  sel.addRange(range);
}

function showSecret(id, secret) {
  // The secret is text (not an input's value) so it can be read and selected; the
  // spaces around it keep it a separate word for anyone reading the box's text.
  const value = el('code', { class: 'secret-value', tabindex: '0', 'aria-label': `Secret of ${id}` }, secret);
  const copy = el('button', { type: 'button', class: 'btn btn-sm secret-copy' }, 'Copy');
  const dismiss = el('button', { type: 'button', class: 'btn btn-sm btn-ghost secret-dismiss' }, 'Done');
  copy.addEventListener('click', async () => {
    let ok = false;
    try {
      await navigator.clipboard.writeText(secret);
      ok = true;
    } catch {
      selectText(value);
      try { ok = document.execCommand('copy'); } catch { ok = false; }
    }
    setText(copy, ok ? 'Copied' : 'Select and copy');
  });
  value.addEventListener('focus', () => selectText(value));
  dismiss.addEventListener('click', hideSecret);
  dom.regSecret.replaceChildren(
    el('div', { class: 'secret-title' }, `${id} registered. Its secret:`),
    ' ',
    el('div', { class: 'secret-row' }, value, ' ', copy, ' ', dismiss),
    ' ',
    el('p', { class: 'secret-warn' },
      'Copy it now and give it to the CP\u2019s operator (monitor and engine): it is not shown again. Central keeps only a hash.'),
  );
  dom.regSecret.hidden = false;
  selectText(value);
}

dom.regForm.addEventListener('submit', async (e) => {
  e.preventDefault();
  setText(dom.regError, '');
  hideSecret(); // shown once: a new registration (or a failed one) takes the old secret away
  const id = dom.regId.value.trim();
  const location = dom.regLocation.value.trim();
  const cents = fmt.parseEurToCents(dom.regPrice.value);
  if (!id) return void setText(dom.regError, 'Enter the CP id (e.g. CP_100)');
  if (!location) return void setText(dom.regError, 'Enter the location');
  if (cents === null) {
    return void setText(dom.regError, 'Enter the price in EUR/kWh with at most 2 decimals (e.g. 0.35)');
  }
  dom.regSubmit.disabled = true;
  const r = await api('POST', '/api/cps', { id, location, price_cents_per_kwh: cents });
  dom.regSubmit.disabled = false;
  if (sessionLost(r)) return;
  if (r.status === 201 || r.status === 200) {
    dom.regForm.reset();
    if (typeof r.body.secret === 'string') showSecret(r.body.id || id, r.body.secret);
    else setText(dom.regError, `${id} registered, but Central sent no secret`);
    return;
  }
  setText(dom.regError, errorText(r));
});

/* ------------------------------------------------------------------ filters */

dom.filterType.addEventListener('change', applyEventFilter);
dom.filterCp.addEventListener('input', applyEventFilter);

boot();
