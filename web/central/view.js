// Rendering of Central's console: CP tiles, figures, tables, event stream.
// Everything updates in place (keyed by id) so focus, hover and clicks survive the
// once-a-second ticks; server text only ever goes through textContent.
import { el, setText, setAttr, $$ } from './shared/dom.js';
import * as fmt from './shared/fmt.js';

export const STATES = ['ACTIVATED', 'SUPPLYING', 'STOPPED', 'BROKEN', 'DISCONNECTED'];
const STATE_WORDS = {
  ACTIVATED: 'ACTIVATED', SUPPLYING: 'SUPPLYING', STOPPED: 'Out of Order',
  BROKEN: 'BROKEN', DISCONNECTED: 'DISCONNECTED',
};
export const MAX_EVENTS = 500;

const byId = (a, b) => String(a).localeCompare(String(b), undefined, { numeric: true });

/* ------------------------------------------------------------------ CP tiles */

function buildTile(id, handlers) {
  const refs = {};
  const tile = el('article', { class: 'cp-tile', dataset: { cp: id, state: 'DISCONNECTED' } });
  refs.id = el('span', { class: 'cp-id' }, id);
  refs.state = el('span', { class: 'cp-state' });
  refs.location = el('div', { class: 'cp-location' });
  refs.price = el('div', { class: 'cp-price' });
  refs.kw = el('span', { class: 'cp-kw' });
  refs.eur = el('span', { class: 'cp-eur' });
  refs.driver = el('span', { class: 'cp-driver' });
  refs.live = el('div', { class: 'cp-live', hidden: true },
    refs.kw, refs.eur, el('span', { class: 'cp-driver-row' }, 'Driver ', refs.driver));
  refs.detail = el('div', { class: 'cp-detail', hidden: true });
  refs.health = el('div', { class: 'cp-health' });
  refs.stop = el('button', { type: 'button', class: 'btn cp-stop', 'aria-label': `Stop ${id}` }, 'Stop');
  refs.resume = el('button', { type: 'button', class: 'btn cp-resume', 'aria-label': `Resume ${id}` }, 'Resume');
  refs.reset = el('button', { type: 'button', class: 'btn cp-reset', 'aria-label': `Reset ${id}` }, 'Reset');
  refs.stop.addEventListener('click', () => handlers.onStop(id));
  refs.resume.addEventListener('click', () => handlers.onResume(id));
  refs.reset.addEventListener('click', () => handlers.onReset(id));
  tile.append(
    el('header', { class: 'cp-head' }, refs.id, refs.state),
    refs.location, refs.price, refs.live, refs.detail, refs.health,
    el('div', { class: 'cp-actions' }, refs.stop, refs.resume, refs.reset),
  );
  tile._refs = refs;
  return tile;
}

function healthWords(cp) {
  const eh = cp.engine_health;
  const engine = eh === 'OK' ? 'Engine OK' : eh === 'KO' ? 'Engine KO' : eh === 'UNREACHABLE' ? 'Engine unreachable' : 'Engine —';
  return `${engine} · ${cp.monitor_connected ? 'Monitor up' : 'Monitor down'}`;
}

function detailWords(cp, live) {
  const parts = [];
  if (cp.admin_state === 'STOPPED') parts.push('Stopped by operator');
  if (cp.state_detail) {
    const d = cp.state_detail.charAt(0).toUpperCase() + cp.state_detail.slice(1);
    const driver = (live && live.driver_id) || cp.driver_id;
    parts.push(driver && cp.state !== 'SUPPLYING' ? `${d} · ${driver}` : d);
  }
  return parts.join(' · ');
}

function updateTile(tile, cp, live, busy) {
  const r = tile._refs;
  const state = STATES.includes(cp.state) ? cp.state : 'DISCONNECTED';
  setAttr(tile, 'data-state', state);
  setText(r.state, cp.state_text || STATE_WORDS[state] || state);
  setText(r.location, cp.location || '—');
  setAttr(r.location, 'title', cp.location || null);
  setText(r.price, fmt.pricePerKwh(cp.price_cents_per_kwh));
  const supplying = state === 'SUPPLYING';
  r.live.hidden = !supplying;
  if (supplying) {
    const src = live || cp;
    setText(r.kw, fmt.kw(src.w));
    setText(r.eur, fmt.eur(src.cents));
    setText(r.driver, src.driver_id || cp.driver_id || '—');
  }
  const detail = detailWords(cp, live);
  setText(r.detail, detail);
  r.detail.hidden = !detail;
  setText(r.health, healthWords(cp));
  const adminStopped = cp.admin_state ? cp.admin_state === 'STOPPED' : state === 'STOPPED';
  // busy: the action in flight ('stop'|'resume'|'reset'); its button waits for the answer,
  // the others follow the state pushed by Central (which may arrive first). Central
  // refuses a reset (409) that nothing would act on: a CP DISCONNECTED or whose engine
  // it has not heard on the bus.
  r.stop.disabled = busy === 'stop' || adminStopped;
  r.resume.disabled = busy === 'resume' || !adminStopped;
  r.reset.disabled = busy === 'reset' || state === 'DISCONNECTED' || cp.engine_on_bus === false;
  tile.classList.toggle('busy', !!busy);
  setAttr(tile, 'aria-label', `${cp.id}: ${cp.state_text || STATE_WORDS[state]}`);
}

/** Renders every CP (creating/removing tiles as needed, sorted by id). */
export function renderTiles(grid, cps, live, busySet, handlers) {
  const existing = new Map($$('.cp-tile', grid).map((t) => [t.dataset.cp, t]));
  const ids = Array.from(cps.keys()).sort(byId);
  let prev = null;
  for (const id of ids) {
    let tile = existing.get(id);
    if (!tile) tile = buildTile(id, handlers);
    existing.delete(id);
    updateTile(tile, cps.get(id), live.get(id), busySet.get(id));
    const want = prev ? prev.nextSibling : grid.firstChild;
    if (want !== tile) grid.insertBefore(tile, want);
    prev = tile;
  }
  for (const t of existing.values()) t.remove();
}

/** Updates only the tiles of the given ids (fast path for `cps` and `tick`). */
export function renderSomeTiles(grid, ids, cps, live, busySet, handlers) {
  for (const id of ids) {
    const tile = grid.querySelector(`.cp-tile[data-cp="${CSS.escape(id)}"]`);
    if (!tile) return renderTiles(grid, cps, live, busySet, handlers);
    const cp = cps.get(id);
    if (cp) updateTile(tile, cp, live.get(id), busySet.get(id));
  }
  return undefined;
}

/* ------------------------------------------------------------------ figures */

export function countStates(cps) {
  const by = Object.fromEntries(STATES.map((s) => [s, 0]));
  for (const cp of cps.values()) if (cp.state in by) by[cp.state] += 1;
  return by;
}

export function renderFigures(fig, byState, total) {
  const f = fig || {};
  const set = (name, text) => {
    for (const n of $$(`[data-fig="${name}"]`)) setText(n, text);
  };
  set('supplies_active', fmt.count(f.supplies_active));
  set('power_w', f.power_w == null ? '—' : fmt.kw(f.power_w));
  set('energy_today_wh', f.energy_today_wh == null ? '—' : fmt.kwh(f.energy_today_wh));
  set('revenue_today_cents', f.revenue_today_cents == null ? '—' : fmt.eur(f.revenue_today_cents));
  set('energy_total_wh', f.energy_total_wh == null ? '—' : fmt.kwh(f.energy_total_wh));
  set('revenue_total_cents', f.revenue_total_cents == null ? '—' : fmt.eur(f.revenue_total_cents));
  set('drivers', fmt.count(f.drivers));
  // drivers_online in the contract; Central names it drivers_charging (docs/WEB.md)
  set('drivers_online', fmt.count(f.drivers_online ?? f.drivers_charging));
  const caption = document.getElementById('fig-drivers-caption');
  if (caption && f.drivers_online === undefined && f.drivers_charging !== undefined) setText(caption, 'charging / registered');
  const states = byState || f.cps_by_state || {};
  for (const s of STATES) set(`state-${s}`, fmt.count(states[s] ?? 0));
  const n = total ?? f.cps_total;
  set('cps_total', n == null ? '' : `(${n})`);
}

/* ------------------------------------------------------------------ supplies */

const SUPPLY_STATE_WORDS = { requested: 'requested', authorised: 'waiting for plug', supplying: 'supplying' };

export function renderSupplies(table, supplies) {
  const tbody = table.tBodies[0];
  const rows = new Map(Array.from(tbody.rows).map((r) => [r.dataset.corr, r]));
  const list = [...supplies].sort((a, b) => (a.requested_at || 0) - (b.requested_at || 0) || byId(a.cp_id, b.cp_id));
  let prev = null;
  for (const s of list) {
    const key = s.correlation_id || s.id;
    let tr = rows.get(key);
    if (!tr) {
      tr = el('tr', { dataset: { corr: key } },
        el('td', { class: 'cp mono' }), el('td', { class: 'driver mono' }), el('td', { class: 'state' }),
        el('td', { class: 'start' }), el('td', { class: 'kw num' }), el('td', { class: 'kwh num' }),
        el('td', { class: 'eur num' }), el('td', { class: 'corr' }));
    }
    rows.delete(key);
    const c = tr.cells;
    setText(c[0], s.cp_id);
    setText(c[1], s.driver_id);
    setText(c[2], SUPPLY_STATE_WORDS[s.state] || s.state || '');
    setText(c[3], fmt.time(s.started_at));
    setAttr(c[3], 'title', s.started_at ? fmt.dateTime(s.started_at) : `requested ${fmt.dateTime(s.requested_at)}`);
    setText(c[4], fmt.kw(s.w));
    setText(c[5], fmt.kwh(s.wh));
    setText(c[6], fmt.eur(s.cents));
    setText(c[7], key);
    const want = prev ? prev.nextSibling : tbody.firstChild;
    if (want !== tr) tbody.insertBefore(tr, want);
    prev = tr;
  }
  for (const r of rows.values()) r.remove();
  return list.length;
}

/* ------------------------------------------------------------------ tickets */

function ticketRow(t) {
  const tr = el('tr', { dataset: { session: String(t.session_id) } },
    el('td', { class: 'ended', title: fmt.dateTime(t.ended_at) }, fmt.time(t.ended_at)),
    el('td', { class: 'cp mono' }, t.cp_id ?? ''),
    el('td', { class: 'driver mono' }, t.driver_id ?? ''),
    el('td', { class: 'kwh num' }, fmt.kwh(t.energy_wh)),
    el('td', { class: 'eur num', title: `${fmt.pricePerKwh(t.price_cents_per_kwh)}` }, fmt.eur(t.amount_cents)),
    el('td', { class: 'reason' }, t.end_reason ?? ''));
  if (t.correlation_id) tr.title = `correlation ${t.correlation_id}`;
  return tr;
}

export function renderTickets(table, tickets) {
  table.tBodies[0].replaceChildren(...tickets.map(ticketRow));
}

/* ------------------------------------------------------------------ users */

export function renderUsers(table, users) {
  const list = [...users].sort((a, b) =>
    (a.role === 'admin' ? 0 : 1) - (b.role === 'admin' ? 0 : 1) || byId(a.id, b.id));
  table.tBodies[0].replaceChildren(...list.map((u) =>
    el('tr', { dataset: { user: String(u.id) } },
      el('td', { class: 'id mono' }, u.id),
      el('td', { class: 'role' }, el('span', { class: `badge badge-${u.role}` }, u.role)),
      el('td', { class: 'balance num' }, fmt.eur(u.balance_cents)))));
  return list.length;
}

/* ------------------------------------------------------------------ events */

function kindOf(type) {
  const t = String(type || '').toLowerCase();
  if (/(broken|alert|error|fail|ko|lost|unreach)/.test(t)) return 'alert';
  if (/^(auth|security|login|session|seal|trust)/.test(t)) return 'security';
  if (t.startsWith('cp')) return 'cp';
  if (t.startsWith('supply') || t.startsWith('ticket') || t.startsWith('billing')) return 'supply';
  return 'other';
}

export function eventNode(ev, isNew) {
  const li = el('li', {
    class: isNew ? 'event new' : 'event',
    dataset: { type: ev.type || '', cp: ev.cp_id || '' },
  },
  el('time', { class: 'ev-time', datetime: ev.ts ? new Date(ev.ts).toISOString() : null, title: fmt.dateTime(ev.ts) }, fmt.time(ev.ts)),
  el('span', { class: 'ev-type', dataset: { kind: kindOf(ev.type) } }, ev.type || 'event'),
  el('span', { class: 'ev-cp' }, ev.cp_id || ''),
  el('span', { class: 'ev-text' }, ev.text || '',
    ev.driver_id && !String(ev.text || '').includes(ev.driver_id) ? ` (driver ${ev.driver_id})` : ''));
  if (isNew) li.addEventListener('animationend', () => li.classList.remove('new'), { once: true });
  return li;
}

export function eventMatches(li, type, cpText) {
  if (type && li.dataset.type !== type) return false;
  if (cpText && !li.dataset.cp.toLowerCase().includes(cpText)) return false;
  return true;
}

