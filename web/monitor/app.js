// EVCharging - Monitor: one CP's monitor (EV_CP_M), read-only.
// Live over the WebSocket /ws/monitor: each `snapshot` is the whole truth (everything is
// rebuilt); each `update` carries the status and what is new since the previous push
// (checks, usage points, alerts newest first). Unknown message types and fields are
// ignored (a newer monitor may send more).
import { createWsClient } from './shared/ws.js';
import { el, setText, setAttr, $ } from './shared/dom.js';
import * as fmt from './shared/fmt.js';
import { createHealthChart, createUsageChart } from './charts.js';

const STATE_WORDS = {
  ACTIVATED: 'ACTIVATED',
  SUPPLYING: 'SUPPLYING',
  STOPPED: 'Out of Order',
  BROKEN: 'BROKEN',
  DISCONNECTED: 'DISCONNECTED',
};
const RESULT_WORDS = { ok: 'OK', ko: 'KO', none: 'no answer' };
const KIND_WORDS = {
  fault: 'fault', recovery: 'recovery', link_lost: 'link lost', link_regained: 'link regained',
  link_up: 'link up', refused: 'refused',
};
const ALERTS_MAX = 100;
const STRIP = 90;

const dom = {
  body: document.body,
  console: $('#console'),
  brandCp: $('#brand-cp'),
  started: $('#monitor-started'),
  lastUpdate: $('#last-update'),
  pill: $('#conn-pill'),
  pillText: $('#conn-pill-text'),
  banner: $('#conn-banner'),
  bannerDetail: $('#conn-banner-detail'),
  state: $('#cp-state'),
  cpId: $('#cp-id'),
  stateText: $('#cp-state-text'),
  stateReason: $('#cp-state-reason'),
  linkCentral: $('#link-central'),
  centralLink: $('#central-link'),
  centralAddr: $('#central-addr'),
  centralSince: $('#central-since'),
  linkEngine: $('#link-engine'),
  engineLink: $('#engine-link'),
  engineAddr: $('#engine-addr'),
  engineSince: $('#engine-since'),
  engineHealth: $('#engine-health'),
  failures: $('#consecutive-failures'),
  lastResult: $('#last-result'),
  lastCheck: $('#last-check'),
  lastRtt: $('#last-rtt'),
  checksTotal: $('#checks-total'),
  strip: $('#health-strip'),
  healthMeta: $('#health-meta'),
  supplyState: $('#supply-state'),
  supplyKw: $('#supply-kw'),
  supplyKwh: $('#supply-kwh'),
  supplySession: $('#supply-session'),
  alerts: $('#alerts'),
  alertsEmpty: $('#alerts-empty'),
};

const S = { cpId: null, status: null, strip: [], maxChecks: 3600, maxUsage: 3600 };
let health = null;
let usage = null;

/* ------------------------------------------------------------------ rendering */

const since = (ms) => (ms ? `since ${fmt.time(ms)} (${fmt.duration(Date.now() - ms)})` : '');

function rtt(us) {
  if (typeof us !== 'number' || us < 0) return '—';
  return us < 10000 ? `${(us / 1000).toFixed(2)} ms` : `${Math.round(us / 1000)} ms`;
}

function centralWords(c) {
  switch (c?.link) {
    case 'accepted': return ['up', c.admin_state === 'stopped' ? 'Accepted (CP stopped)' : 'Accepted'];
    case 'denied': return ['down', c.text ? `Denied: ${c.text}` : 'Denied'];
    case 'down': return ['down', 'Unable to connect'];
    default: return ['connecting', 'Connecting…'];
  }
}

function engineWords(e) {
  if (!e || e.link === 'down') return ['down', 'Not reachable'];
  if (e.health === 'UNREACHABLE') return ['down', 'Not answering'];
  if (e.link === 'connected') return ['connecting', 'Connected, proving the secret…'];
  if (e.health === 'UNKNOWN') return ['connecting', 'Connected, first check…'];
  return ['up', e.health === 'KO' ? 'Answering, reports KO' : 'Answering'];
}

function renderStatus(st) {
  if (!st) return;
  S.status = st;
  const state = STATE_WORDS[st.state] ? st.state : 'DISCONNECTED';
  setAttr(dom.state, 'data-state', state);
  setText(dom.stateText, STATE_WORDS[state]);
  setText(dom.stateReason, st.reason || '');

  const [cl, cw] = centralWords(st.central);
  setAttr(dom.linkCentral, 'data-link', cl);
  setText(dom.centralLink, cw);
  setText(dom.centralAddr, st.central?.address || '');
  setText(dom.centralSince, since(st.central?.since));

  const [el_, ew] = engineWords(st.engine);
  setAttr(dom.linkEngine, 'data-link', el_);
  setText(dom.engineLink, ew);
  setText(dom.engineAddr, st.engine?.address || '');
  setText(dom.engineSince, since(st.engine?.since));

  const h = st.engine?.health || 'UNKNOWN';
  setAttr(dom.engineHealth, 'data-health', h);
  setText(dom.engineHealth, h === 'UNREACHABLE' ? 'No answer' : h === 'UNKNOWN' ? 'Not checked yet' : h);

  const ck = st.checks || {};
  setText(dom.failures, fmt.count(ck.consecutive_failures));
  dom.failures.classList.toggle('bad', ck.consecutive_failures > 0);
  setAttr(dom.lastResult, 'data-result', ck.last_result || '');
  setText(dom.lastResult, ck.last_result ? RESULT_WORDS[ck.last_result] || ck.last_result : '—');
  setText(dom.lastCheck, ck.last_ts ? `at ${fmt.time(ck.last_ts)}, every ${fmt.count(ck.interval_ms)} ms` : 'no check yet');
  setText(dom.lastRtt, rtt(ck.last_rtt_us));
  setText(dom.checksTotal, typeof ck.total === 'number'
    ? `${ck.total} checks, ${ck.failures} failed` : '—');

  const sp = st.supply;
  if (!sp) {
    setText(dom.supplyState, st.engine?.link === 'down' ? 'unknown (engine away)' : 'unknown');
    setText(dom.supplyKw, '—');
    setText(dom.supplyKwh, '—');
    setText(dom.supplySession, '—');
  } else {
    setText(dom.supplyState, sp.admin === 'stopped' ? `${sp.state} (stopped)` : sp.state);
    setText(dom.supplyKw, fmt.kw(sp.w));
    setText(dom.supplyKwh, fmt.kwh(sp.wh));
    setText(dom.supplySession, sp.session_id || '—');
  }
}

function renderStrip() {
  const cells = dom.strip.children;
  if (cells.length !== STRIP) {
    dom.strip.replaceChildren(...Array.from({ length: STRIP }, () => el('span', { class: 'cell' })));
  }
  const off = STRIP - S.strip.length;
  for (let i = 0; i < STRIP; i++) {
    const c = i >= off ? S.strip[i - off] : null;
    const cell = dom.strip.children[i];
    setAttr(cell, 'data-r', c ? c[1] : null);
    setAttr(cell, 'title', c ? `${fmt.time(c[0])} ${RESULT_WORDS[c[1]] || c[1]} ${typeof c[2] === 'number' ? rtt(c[2]) : ''}` : null);
  }
}

function addChecks(checks, reset) {
  if (reset) S.strip = [];
  for (const c of checks || []) if (Array.isArray(c) && c.length >= 3) S.strip.push(c);
  if (S.strip.length > STRIP) S.strip.splice(0, S.strip.length - STRIP);
  renderStrip();
  health.add(checks, reset);
  const n = health.count;
  setText(dom.healthMeta, n ? `${n} checks, last ${fmt.duration(n * (S.status?.checks?.interval_ms || 1000))}` : 'each check, last hour');
}

function alertNode(a, fresh) {
  return el('li', { class: `alert${fresh ? ' new' : ''}`, dataset: { kind: a.kind || '' }, title: fmt.dateTime(a.ts) },
    el('span', { class: 'al-time' }, fmt.time(a.ts)),
    el('span', { class: 'al-kind' }, KIND_WORDS[a.kind] || a.kind || '?'),
    el('span', { class: 'al-link' }, a.link || ''),
    el('span', { class: 'al-text' }, a.text || ''));
}

/** alerts: newest first. */
function addAlerts(alerts, reset) {
  if (reset) dom.alerts.replaceChildren();
  const list = Array.isArray(alerts) ? alerts.slice(0, ALERTS_MAX) : [];
  // Insert oldest first at the top so that the newest ends up first.
  for (let i = list.length - 1; i >= 0; i--) dom.alerts.prepend(alertNode(list[i], !reset));
  while (dom.alerts.children.length > ALERTS_MAX) dom.alerts.lastElementChild.remove();
  dom.alertsEmpty.hidden = dom.alerts.children.length > 0;
}

function touch(now) {
  setText(dom.lastUpdate, fmt.time(now || Date.now()));
}

function onSnapshot(msg) {
  S.cpId = msg.cp_id;
  document.title = `EVCharging - Monitor ${msg.cp_id}`;
  setText(dom.brandCp, msg.cp_id);
  setText(dom.cpId, msg.cp_id);
  setText(dom.started, fmt.time(msg.started_at));
  dom.started.title = fmt.dateTime(msg.started_at);
  renderStatus(msg.status);
  addChecks(msg.checks, true);
  usage.add(msg.usage, true);
  addAlerts(msg.alerts, true);
  touch(msg.now);
  dom.body.classList.remove('booting');
}

function onMessage(msg) {
  if (msg.type !== 'update') return; // a newer monitor may send more
  renderStatus(msg.status);
  if (msg.checks?.length) addChecks(msg.checks, false);
  if (msg.usage?.length) usage.add(msg.usage, false);
  if (msg.alerts?.length) addAlerts(msg.alerts, false);
  touch(msg.now);
}

/* ------------------------------------------------------------------ connection */

function setConn(state, text) {
  dom.pill.dataset.conn = state;
  setText(dom.pillText, text);
}

function onState(state, info) {
  if (state === 'up') {
    setConn('up', 'Live');
    dom.banner.hidden = true;
    dom.console.classList.remove('stale');
    return;
  }
  setConn('down', 'Disconnected');
  dom.banner.hidden = false;
  dom.console.classList.add('stale');
  dom.body.classList.remove('booting');
  setText(dom.bannerDetail, info.everUp
    ? 'Retrying… the data below is the last known state.'
    : 'Retrying… is EV_CP_M running?');
}

health = createHealthChart($('#health-chart'));
usage = createUsageChart($('#usage-chart'));
const ws = createWsClient({ path: '/ws/monitor', onSnapshot, onMessage, onState });
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible') ws.retryNow();
});
window.addEventListener('online', () => ws.retryNow());
// "since ..." durations move on even when nothing changes.
setInterval(() => { if (S.status) renderStatus(S.status); }, 1000);
ws.start();
