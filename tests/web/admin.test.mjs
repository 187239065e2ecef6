// admin.test.mjs: the admin dashboard (issue 12) in a real browser against a
// real system: Central, five CPs (engine + monitor each) and a driver over the
// ZeroMQ bus, the seeded SQLite database (docs/WEB.md, tests/web/README.md).
//
//   node --test tests/web/            (ctest -L web does this with the env below)
//   EVC_BIN_DIR=build/bin EVC_NODE_MODULES=build/web-npm/node_modules
//   EVC_IT_KEEP=1 keeps the system's temp dir (configs, logs, database)
//   EVC_WEB_SCREENSHOTS=<repo>/docs/img writes docs/img/admin.png and
//   admin-login.png there; without it the screenshots go to
//   <build>/web-screenshots/ (a test run never touches the source tree).
//
// The tests run in order on one system and one page: each one starts from the
// state the previous one left (written next to each).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { BUILD_DIR, SEED, System, chromiumPath, loadChromium, now, waitFor } from './lib/system.mjs';

// The five states of the contract (docs/WEB.md): colour and words.
const COLOUR = {
  ACTIVATED: 'rgb(46, 125, 50)',
  SUPPLYING: 'rgb(27, 94, 32)',
  STOPPED: 'rgb(239, 108, 0)',
  BROKEN: 'rgb(198, 40, 40)',
  DISCONNECTED: 'rgb(97, 97, 97)',
};
const WORDS = {
  ACTIVATED: 'ACTIVATED', SUPPLYING: 'SUPPLYING', STOPPED: 'Out of Order',
  BROKEN: 'BROKEN', DISCONNECTED: 'DISCONNECTED',
};
// One CP per state (all seeded: CP_00N, secret-CP_00N). CP_005 is the most
// expensive seeded CP (45 c/kWh, max 150 kW): at 150 kW a supply bills about
// 1.9 cents a second, so both its kW and its EUR change at every 1 s tick.
const CP = { active: 'CP_001', stopped: 'CP_002', broken: 'CP_003', gone: 'CP_004', supply: 'CP_005' };
const SUPPLY_W = 150000;

const SHOTS = process.env.EVC_WEB_SCREENSHOTS || path.join(BUILD_DIR, 'web-screenshots');

let sys;        // the running system
let admin;      // an API session of admin: {cookie, csrf}
let browser;
let page;
const consoleErrors = [];

/** Runs a test body; on failure prints the programs' logs before rethrowing. */
function step(fn) {
  return async (t) => {
    try {
      await fn(t);
    } catch (e) {
      sys?.dump();
      if (page) {
        const shot = path.join(sys?.dir || SHOTS, `failure-${Date.now()}.png`);
        await page.screenshot({ path: shot, fullPage: true }).catch(() => {});
        process.stderr.write(`admin.test: page at the failure: ${shot}; console errors: ` +
          `${JSON.stringify(consoleErrors)}\n`);
      }
      throw e;
    }
  };
}

const tile = (id) => page.locator(`.cp-tile[data-cp="${id}"]`);

/** The tile's state as the user sees it: data-state, words, computed background. */
function tileView(id) {
  return tile(id).evaluate((el) => ({
    state: el.dataset.state,
    words: el.querySelector('.cp-state')?.textContent.trim(),
    bg: getComputedStyle(el).backgroundColor,
    kw: el.querySelector('.cp-kw')?.textContent.trim() ?? null,
    eur: el.querySelector('.cp-eur')?.textContent.trim() ?? null,
    driver: el.querySelector('.cp-driver')?.textContent.trim() ?? null,
  }));
}

async function waitTileState(id, state, timeout = 10000) {
  return waitFor(async () => {
    sys.check();
    const v = await tileView(id).catch(() => null);
    return v && v.state === state && v.words === WORDS[state] ? v : false;
  }, { timeout, what: `tile ${id} ${state}` });
}

async function waitCpState(id, state, timeout = 10000) {
  return waitFor(async () => sys.check() || (await sys.cpsById(admin))[id]?.state === state,
    { timeout, what: `${id} ${state} in /api/cps` });
}

const visible = (sel) => page.locator(sel).isVisible();

before(async () => {
  // Fail (never skip) when the browser or its driver is missing.
  chromiumPath();
  loadChromium();
  sys = await System.start();
  await step(startCps)();
});

async function startCps() {
  const r = await sys.login(SEED.admin.user, SEED.admin.password);
  assert.equal(r.status, 200, `admin login over the API: ${r.text}`);
  admin = { cookie: r.cookie, csrf: r.csrf };
  for (const id of Object.values(CP))
    await sys.startCp(id, { powerW: id === CP.supply ? SUPPLY_W : 11000 });
  await Promise.all(Object.values(CP).map((id) => waitCpState(id, 'ACTIVATED', 15000)));
  // Central's commands on the bus (stop, resume, supply) reach an engine only
  // once it holds its bus key, a moment after the CP shows ACTIVATED.
  await Promise.all(Object.values(CP).map((id) =>
    sys.cps.get(id).engine.waitOutput('bus key ready', { timeout: 15000 })));
}

after(async () => {
  await browser?.close().catch(() => {});
  await sys?.stop();
});

// ---- the API, without a browser ----------------------------------------------

describe('API guard', () => {
  test('a wrong password is 401 "wrong user or password"', step(async () => {
    const r = await sys.login('admin', 'not-the-password');
    assert.equal(r.status, 401);
    assert.equal(r.body?.error, 'wrong user or password');
    assert.equal(r.cookie, null, 'no session cookie on a failed login');
  }));

  test('a driver logs in but every admin route is 403 "administrators only"', step(async () => {
    const d = await sys.login('driver1', SEED.drivers.driver1);
    assert.equal(d.status, 200, d.text);
    assert.equal(d.body.role, 'driver');
    const cps = await sys.http('GET', '/api/cps', { session: d });
    assert.equal(cps.status, 403);
    assert.equal(cps.body?.error, 'administrators only');
    const before = sys.adminStates();
    const stop = await sys.http('POST', `/api/cps/${CP.active}/stop`, { session: d, body: {} });
    assert.equal(stop.status, 403);
    assert.deepEqual(sys.adminStates(), before, 'a driver\'s stop changed the database');
  }));

  test('POST stop without a session is 401 and changes nothing', step(async () => {
    const before = sys.adminStates();
    assert.equal(before[CP.active], 'in_service');
    const r = await sys.http('POST', `/api/cps/${CP.active}/stop`, { body: {} });
    assert.equal(r.status, 401, r.text);
    const all = await sys.http('POST', '/api/cps/stop-all', { body: {} });
    assert.equal(all.status, 401, all.text);
    // An accepted stop is in the database when its answer arrives (the
    // positive control of the next test shows it): nothing to wait for.
    assert.deepEqual(sys.adminStates(), before);
    assert.equal((await sys.cpsById(admin))[CP.active].admin_state, 'IN_SERVICE');
  }));

  test('POST stop with a session but no CSRF header is 403 and changes nothing', step(async () => {
    const before = sys.adminStates();
    const r = await sys.http('POST', `/api/cps/${CP.active}/stop`, { body: {}, session: admin, csrf: false });
    assert.equal(r.status, 403, r.text);
    const wrong = await sys.http('POST', `/api/cps/${CP.active}/stop`,
      { body: {}, session: admin, csrf: false, headers: { 'x-csrf-token': '0'.repeat(64) } });
    assert.equal(wrong.status, 403, wrong.text);
    assert.deepEqual(sys.adminStates(), before);
    assert.equal((await sys.cpsById(admin))[CP.active].admin_state, 'IN_SERVICE');
    // Positive control: the same request with the header does stop it, and
    // the database says so as soon as the answer is in.
    const ok = await sys.http('POST', `/api/cps/${CP.active}/stop`, { body: {}, session: admin });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.body.changed, 1);
    assert.equal(sys.adminStates()[CP.active], 'stopped');
    const back = await sys.http('POST', `/api/cps/${CP.active}/resume`, { body: {}, session: admin });
    assert.equal(back.status, 200, back.text);
    assert.equal(sys.adminStates()[CP.active], 'in_service');
  }));
});

// ---- the page ----------------------------------------------------------------

describe('admin dashboard in chromium', () => {
  test('the page loads and shows the login form', step(async () => {
    const chromium = loadChromium();
    browser = await chromium.launch({ executablePath: chromiumPath(), headless: true });
    const ctx = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    page = await ctx.newPage();
    page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
    page.on('pageerror', (e) => consoleErrors.push(String(e)));
    const res = await page.goto(sys.url + '/');
    assert.equal(res.status(), 200);
    await page.locator('form#login-form').waitFor({ state: 'visible', timeout: 10000 });
    assert.ok(await visible('#login-user'));
    assert.ok(await visible('#login-password'));
    assert.equal(await visible('#cp-grid'), false, 'the console shows before a login');
    fs.mkdirSync(SHOTS, { recursive: true });
    await page.screenshot({ path: path.join(SHOTS, 'admin-login.png') });
  }));

  async function submitLogin(user, password) {
    await page.fill('#login-user', user);
    await page.fill('#login-password', password);
    await page.click('#login-submit');
  }

  test('login fails with a wrong password: the error shows, no console', step(async () => {
    await submitLogin('admin', 'wrong-password');
    await page.locator('#login-error').filter({ hasText: /wrong user or password/i })
      .waitFor({ state: 'visible', timeout: 5000 });
    assert.equal(await visible('#cp-grid'), false);
    assert.equal(await visible('#whoami'), false);
  }));

  test('login with a driver\'s credentials: "Administrators only", no console', step(async () => {
    await submitLogin('driver1', SEED.drivers.driver1);
    await page.locator('#login-error').filter({ hasText: /administrators only/i })
      .waitFor({ state: 'visible', timeout: 5000 });
    assert.equal(await visible('#cp-grid'), false);
    assert.equal(await page.locator('.cp-tile').count(), 0, 'a driver was shown the CPs');
  }));

  test('login as admin/admin123 shows the console with every CP', step(async () => {
    await submitLogin(SEED.admin.user, SEED.admin.password);
    await page.locator('#whoami').filter({ hasText: 'admin' }).waitFor({ state: 'visible', timeout: 5000 });
    assert.equal(await visible('form#login-form'), false);
    assert.equal(await visible('#logout'), true);
    const n = sys.sql('SELECT count(*) AS n FROM charging_points')[0].n;
    await waitFor(async () => await page.locator('.cp-tile').count() === n,
      { timeout: 5000, what: `${n} tiles` });
    for (const id of Object.values(CP))
      await waitTileState(id, 'ACTIVATED', 5000);
    await waitFor(async () => !(await visible('#conn-banner')), { timeout: 5000, what: 'no banner' });
  }));

  let corr; // the live supply's correlation id

  test('five CPs in the five states at once: colour and words of each tile', step(async () => {
    // STOPPED: Central's stop; BROKEN: the engine's fault key; DISCONNECTED:
    // the monitor killed; SUPPLYING: driver2 requests CP_005, the vehicle plugs.
    const r = await sys.http('POST', `/api/cps/${CP.stopped}/stop`, { body: {}, session: admin });
    assert.equal(r.status, 200, r.text);
    sys.engine(CP.broken, 'k');
    await sys.killMonitor(CP.gone);
    sys.startDriver('driver2', [CP.supply]);
    await waitFor(async () => sys.check() || (await sys.cpsById(admin))[CP.supply].session_state === 'authorised',
      { timeout: 10000, what: `driver2's supply authorised on ${CP.supply}` });
    sys.engine(CP.supply, 'plug');
    const expect = { [CP.active]: 'ACTIVATED', [CP.supply]: 'SUPPLYING', [CP.stopped]: 'STOPPED',
      [CP.broken]: 'BROKEN', [CP.gone]: 'DISCONNECTED' };
    for (const [id, state] of Object.entries(expect)) {
      const v = await waitTileState(id, state, 10000);
      assert.equal(v.bg, COLOUR[state], `${id} ${state}: background`);
      assert.equal(v.words, WORDS[state], `${id} ${state}: words`);
    }
    const cps = await sys.cpsById(admin);
    for (const [id, state] of Object.entries(expect))
      assert.equal(cps[id].state, state, `${id} in /api/cps`);
    // The first telemetry (1 s after the plug) gives the tile its power.
    const s = await waitFor(async () => {
      const v = await tileView(CP.supply);
      return v.state === 'SUPPLYING' && parseFloat(v.kw) > 0 && v;
    }, { timeout: 5000, what: `${CP.supply}'s live kW` });
    assert.equal(s.driver, 'driver2');
    assert.match(s.kw, /^\d+\.\d\d kW$/);
    assert.match(s.eur, /^\d+\.\d\d EUR$/);
    corr = cps[CP.supply].correlation_id;
    assert.ok(corr, 'the supply has a correlation id');
  }));

  test('a supply\'s kW and EUR change every second on the tile and in the supplies table', step(async () => {
    const row = page.locator(`table#supplies tbody tr[data-corr="${corr}"]`);
    await row.waitFor({ state: 'visible', timeout: 5000 });
    assert.equal((await row.locator('td.cp').textContent()).trim(), CP.supply);
    assert.equal((await row.locator('td.driver').textContent()).trim(), 'driver2');
    // Every text change of the tile's kW/EUR and the row's kW/kWh/EUR, with
    // the browser's clock, recorded by a MutationObserver for 4.5 s.
    const changes = await page.evaluate(async ({ cp, corr }) => {
      const sel = {
        tileKw: `.cp-tile[data-cp="${cp}"] .cp-kw`, tileEur: `.cp-tile[data-cp="${cp}"] .cp-eur`,
        rowKw: `#supplies tr[data-corr="${corr}"] td.kw`, rowKwh: `#supplies tr[data-corr="${corr}"] td.kwh`,
        rowEur: `#supplies tr[data-corr="${corr}"] td.eur`,
      };
      const read = () => Object.fromEntries(Object.entries(sel)
        .map(([k, s]) => [k, document.querySelector(s)?.textContent.trim() ?? null]));
      const log = [{ t: performance.now(), v: read() }];
      const obs = new MutationObserver(() => {
        const v = read();
        if (JSON.stringify(v) !== JSON.stringify(log[log.length - 1].v))
          log.push({ t: performance.now(), v });
      });
      obs.observe(document.body, { subtree: true, childList: true, characterData: true });
      await new Promise((r) => setTimeout(r, 4500));
      obs.disconnect();
      return log;
    }, { cp: CP.supply, corr });
    const series = (k) => changes.map((c) => c.v[k]).filter((v, i, a) => i === 0 || v !== a[i - 1]);
    const num = (s) => parseFloat(s);
    for (const k of ['tileKw', 'tileEur', 'rowKw', 'rowKwh', 'rowEur']) {
      const s = series(k);
      assert.ok(s.every((v) => v !== null), `${k} missing during the supply: ${JSON.stringify(s)}`);
      // 4.5 s of ticks: at least 4 values (3 changes), one a second.
      assert.ok(s.length >= 4, `${k} changed ${s.length - 1} times in 4.5 s: ${JSON.stringify(s)}`);
    }
    for (const k of ['tileEur', 'rowKwh', 'rowEur']) {
      const s = series(k).map(num);
      assert.ok(s.every((v, i) => i === 0 || v > s[i - 1]), `${k} not increasing: ${s}`);
    }
    for (const v of series('tileKw').map(num))
      assert.ok(Math.abs(v - SUPPLY_W / 1000) <= SUPPLY_W / 1000 * 0.06, `kW ${v} far from ${SUPPLY_W / 1000}`);
    // The cadence: the tile's EUR changes at the ticks, about 1 s apart.
    const times = [];
    for (let i = 1; i < changes.length; i++)
      if (changes[i].v.tileEur !== changes[i - 1].v.tileEur)
        times.push(changes[i].t);
    const gaps = times.slice(1).map((t, i) => t - times[i]);
    assert.ok(gaps.length >= 2, `too few ticks: ${JSON.stringify(times)}`);
    const mean = gaps.reduce((a, b) => a + b, 0) / gaps.length;
    assert.ok(mean > 700 && mean < 1300, `mean gap between updates ${mean.toFixed(0)} ms: ${gaps}`);
    assert.ok(Math.max(...gaps) < 2000, `an update came ${Math.max(...gaps).toFixed(0)} ms after the previous one`);
    // The console with the five states and the live supply (README).
    await page.screenshot({ path: path.join(SHOTS, 'admin.png'), fullPage: true });
  }));

  test('the supply\'s ticket appears in #tickets when it ends', step(async () => {
    sys.engine(CP.supply, 'unplug');
    const row = await waitFor(async () => {
      const rows = sys.sql(`SELECT t.session_id, t.energy_wh, t.amount_cents FROM tickets t
        JOIN sessions s ON s.id = t.session_id WHERE s.correlation_id = '${corr}'`);
      return rows[0];
    }, { timeout: 10000, what: 'the ticket in the database' });
    const tr = page.locator(`table#tickets tbody tr[data-session="${row.session_id}"]`);
    await tr.waitFor({ state: 'visible', timeout: 3000 });
    const text = await tr.textContent();
    assert.ok(text.includes(CP.supply) && text.includes('driver2'), text);
    assert.ok(text.includes((row.amount_cents / 100).toFixed(2)), `amount ${row.amount_cents} c in: ${text}`);
    assert.ok(text.includes((row.energy_wh / 1000).toFixed(3)), `energy ${row.energy_wh} Wh in: ${text}`);
    await page.locator(`table#supplies tbody tr[data-corr="${corr}"]`).waitFor({ state: 'detached', timeout: 3000 });
    await waitTileState(CP.supply, 'ACTIVATED', 5000);
  }));

  /** Clicks `button` and measures until both the DB and the tile show the change. */
  async function clickAndMeasure(id, button, dbState, tileState) {
    const btn = tile(id).locator(button);
    await btn.waitFor({ state: 'visible', timeout: 3000 });
    assert.equal(await btn.isEnabled(), true, `${id} ${button} disabled`);
    const t0 = now();
    await btn.click();
    await waitFor(async () => {
      const v = await tileView(id);
      return v.state === tileState && v.words === WORDS[tileState] &&
        sys.adminStates()[id] === dbState;
    }, { timeout: 5000, interval: 20, what: `${id} ${dbState} in the DB and ${tileState} on the page` });
    return now() - t0;
  }

  test('stop, then resume, on a tile: the DB and the page change within 1 s of the click', step(async () => {
    const stopMs = await clickAndMeasure(CP.active, 'button.cp-stop', 'stopped', 'STOPPED');
    assert.ok(stopMs < 1000, `stop took ${stopMs} ms`);
    assert.equal((await tileView(CP.active)).bg, COLOUR.STOPPED);
    const resumeMs = await clickAndMeasure(CP.active, 'button.cp-resume', 'in_service', 'ACTIVATED');
    assert.ok(resumeMs < 1000, `resume took ${resumeMs} ms`);
    assert.equal((await tileView(CP.active)).bg, COLOUR.ACTIVATED);
    process.stderr.write(`admin.test: stop ${stopMs} ms, resume ${resumeMs} ms (click to DB + page)\n`);
  }));

  test('reset on a tile goes through the confirmation dialog and reaches the engine', step(async () => {
    const eng = sys.cps.get(CP.active).engine;
    const heard = `cp=${CP.active}: Soft reset by CENTRAL`; // the engine's log line, one per reset
    const count = () => eng.output().split(heard).length - 1;
    const n0 = count();
    // Central would refuse it (409): nothing to act on a DISCONNECTED CP.
    assert.equal(await tile(CP.gone).locator('button.cp-reset').isEnabled(), false,
      'Reset enabled on a DISCONNECTED CP');
    const btn = tile(CP.active).locator('button.cp-reset');
    await btn.waitFor({ state: 'visible', timeout: 3000 });
    assert.equal(await btn.isEnabled(), true, 'Reset disabled on an ACTIVATED CP');
    await btn.click();
    await page.locator('dialog#confirm').waitFor({ state: 'visible', timeout: 2000 });
    await page.click('#confirm-cancel');
    await page.locator('dialog#confirm').waitFor({ state: 'hidden', timeout: 2000 });
    await btn.click();
    await page.locator('dialog#confirm').waitFor({ state: 'visible', timeout: 2000 });
    await page.click('#confirm-ok');
    await eng.waitOutput(heard, { times: n0 + 1, timeout: 5000 });
    assert.equal(count(), n0 + 1, 'the cancelled dialog sent a reset too');
    await waitFor(() => sys.sql("SELECT count(*) AS n FROM event_log WHERE type = 'cp.reset'")[0].n === 1,
      { timeout: 5000, what: 'the reset in the event log' });
    // A reset is not a stop: the CP stays in service.
    assert.equal(sys.adminStates()[CP.active], 'in_service');
    await waitTileState(CP.active, 'ACTIVATED', 3000);
  }));

  test('stop all / resume all go through the confirmation dialog', step(async () => {
    const before = sys.adminStates();
    await page.click('#stop-all');
    await page.locator('dialog#confirm').waitFor({ state: 'visible', timeout: 2000 });
    await page.click('#confirm-cancel');
    await page.locator('dialog#confirm').waitFor({ state: 'hidden', timeout: 2000 });
    assert.deepEqual(sys.adminStates(), before, 'cancel changed the database');

    await page.click('#stop-all');
    await page.locator('dialog#confirm').waitFor({ state: 'visible', timeout: 2000 });
    await page.click('#confirm-ok');
    await waitFor(() => Object.values(sys.adminStates()).every((s) => s === 'stopped'),
      { timeout: 3000, what: 'every CP stopped in the DB' });
    for (const id of [CP.active, CP.supply, CP.stopped])
      await waitTileState(id, 'STOPPED', 3000);
    // A fault and a lost monitor still show first (the state model).
    await waitTileState(CP.broken, 'BROKEN', 1000);
    await waitTileState(CP.gone, 'DISCONNECTED', 1000);

    await page.click('#resume-all');
    await page.locator('dialog#confirm').waitFor({ state: 'visible', timeout: 2000 });
    await page.click('#confirm-ok');
    await waitFor(() => Object.values(sys.adminStates()).every((s) => s === 'in_service'),
      { timeout: 3000, what: 'every CP in service in the DB' });
    for (const id of [CP.active, CP.supply, CP.stopped])
      await waitTileState(id, 'ACTIVATED', 3000);
  }));

  test('register a CP from the page: secret shown once, tile appears, in the DB, the CP can log in', step(async () => {
    const id = 'CP_100';
    await page.fill('#reg-id', id);
    await page.fill('#reg-location', 'Alicante - Web test');
    await page.fill('#reg-price', '0.35');
    await page.click('#reg-submit');
    const secretEl = page.locator('#reg-secret');
    await secretEl.waitFor({ state: 'visible', timeout: 5000 });
    const secretText = (await secretEl.textContent()).trim();
    const rows = await waitFor(() => {
      const r = sys.sql(`SELECT id, location, price_cents_per_kwh, secret_hash FROM charging_points WHERE id = '${id}'`);
      return r.length ? r : false;
    }, { timeout: 3000, what: `${id} in the DB` });
    assert.equal(rows[0].price_cents_per_kwh, 35);
    assert.equal(rows[0].location, 'Alicante - Web test');
    // A generated secret (64 hex digits) is stored by the fast verifier (docs/SECURITY.md).
    assert.match(rows[0].secret_hash, /^\$evc-cpk\$v=1\$[0-9a-f]{32}\$[0-9a-f]{64}$/,
      'the secret is stored hashed');
    const v = await waitFor(() => tileView(id).catch(() => false), { timeout: 3000, what: `tile ${id}` });
    assert.equal(v.state, 'DISCONNECTED');
    assert.equal((await tile(id).locator('.cp-price').textContent()).trim(), '0.35 EUR/kWh');
    // The secret shown is the one that works: a CP with it logs in.
    const m = /[A-Za-z0-9_\-+/=]{16,}/.exec(secretText);
    assert.ok(m, `no secret in #reg-secret: ${secretText}`);
    assert.ok(!secretText.includes(rows[0].secret_hash), 'the page shows the hash');
    await sys.startCp(id, { secret: m[0] });
    await waitTileState(id, 'ACTIVATED', 10000);
    // Shown once: registering it again is refused (409) and shows no secret.
    await page.fill('#reg-id', id);
    await page.fill('#reg-location', 'again');
    await page.fill('#reg-price', '0.35');
    await page.click('#reg-submit');
    await page.locator('#reg-error').filter({ hasText: /\S/ }).waitFor({ state: 'visible', timeout: 3000 });
    const again = await secretEl.isVisible() ? (await secretEl.textContent()) : '';
    assert.ok(!again.includes(m[0]), 'the secret is shown a second time');
  }));

  test('Central killed and restarted: "Unable to connect to CENTRAL", then live again without a reload', step(async () => {
    let navigations = 0;
    page.on('framenavigated', (f) => { if (f === page.mainFrame()) navigations++; });
    await page.evaluate(() => { window.__evcSamePage = 'still here'; });
    await sys.killCentral(); // SIGKILL
    const banner = page.locator('#conn-banner');
    await banner.filter({ hasText: 'Unable to connect to CENTRAL' }).waitFor({ state: 'visible', timeout: 5000 });
    await sys.startCentral();
    await banner.waitFor({ state: 'hidden', timeout: 15000 });
    // Live again: a change made now reaches the tile by push.
    await waitTileState(CP.active, 'ACTIVATED', 10000);
    sys.engine(CP.active, 'k');
    await waitTileState(CP.active, 'BROKEN', 5000);
    sys.engine(CP.active, 'k');
    await waitTileState(CP.active, 'ACTIVATED', 5000);
    assert.equal(await visible('#whoami'), true, 'the console is gone after the restart');
    assert.equal(navigations, 0, 'the page navigated (reloaded)');
    assert.equal(await page.evaluate(() => window.__evcSamePage), 'still here', 'not the same document');
  }));

  test('log out: back to the login form, the session is over on the server', step(async () => {
    const cookie = (await page.context().cookies()).find((c) => c.name === 'evc_session');
    assert.ok(cookie, 'no evc_session cookie in the browser');
    assert.equal(cookie.httpOnly, true, 'the session cookie is readable by scripts');
    const session = { cookie: `evc_session=${cookie.value}` };
    assert.equal((await sys.http('GET', '/api/session', { session })).status, 200);
    await page.click('#logout');
    await page.locator('form#login-form').waitFor({ state: 'visible', timeout: 3000 });
    assert.equal(await visible('#cp-grid'), false, 'the console stays after the logout');
    assert.equal((await sys.http('GET', '/api/session', { session })).status, 401);
    assert.equal((await sys.http('GET', '/api/cps', { session })).status, 401);
  }));

  test('the page logged no errors in the console', step(async () => {
    // The browser logs every 4xx answer and every refused connection as
    // "Failed to load resource" (here: GET /api/session before the login, the
    // wrong password, the second registration's 409, Central away): network
    // messages, not errors of the page's code.
    const net = /Failed to load resource|ERR_CONNECTION_REFUSED|WebSocket connection to/;
    const own = consoleErrors.filter((e) => !net.test(e));
    process.stderr.write(`admin.test: ${consoleErrors.length - own.length} network messages in the ` +
      `browser console (4xx answers, Central away): ${JSON.stringify(consoleErrors.filter((e) => net.test(e)))}\n`);
    assert.deepEqual(own, []);
  }));
});
