// driver.test.mjs: the driver dashboard (issue 13) in a real browser against a
// real system: Central, three CPs (engine + monitor each), EV_Driver of
// driver1 serving its page, over the ZeroMQ bus; then the same page over the
// Kafka mock cluster (docs/WEB.md "The driver dashboard", tests/web/README.md).
//
//   node --test tests/web/driver.test.mjs   (ctest -R web_driver sets the env below)
//   EVC_BIN_DIR=build/bin EVC_NODE_MODULES=build/web-npm/node_modules
//   EVC_IT_KEEP=1 keeps the system's temp dir; EVC_WEB_SCREENSHOTS=<repo>/docs/img
//   writes docs/img/driver.png (else <build>/web-screenshots/).
//
// The ZeroMQ tests run in order on one system and one page: each starts from
// the state the previous one left (written next to each).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { BUILD_DIR, SEED, System, chromiumPath, loadChromium, waitFor } from './lib/system.mjs';

const COLOUR = { ACTIVATED: 'rgb(46, 125, 50)', STOPPED: 'rgb(239, 108, 0)' };
// Seeded prices: CP_001 35, CP_002 30 (the cheapest: "any free CP" picks it),
// CP_003 40 cents/kWh. CP_001 supplies 150 kW: about 42 Wh and 1.5 cents a
// second, so kWh and EUR change at every 1 s telemetry.
const CPS = ['CP_001', 'CP_002', 'CP_003'];
const SHOTS = process.env.EVC_WEB_SCREENSHOTS || path.join(BUILD_DIR, 'web-screenshots');
const NET = /Failed to load resource|ERR_CONNECTION_REFUSED|WebSocket connection to/;

let sys;
let drv; // EV_Driver of driver1 with its page
let browser;
let page;
const consoleErrors = [];

function step(fn) {
  return async (t) => {
    try {
      await fn(t);
    } catch (e) {
      sys?.dump(40);
      if (page) {
        const shot = path.join(sys?.dir || SHOTS, `driver-failure-${Date.now()}.png`);
        await page.screenshot({ path: shot, fullPage: true }).catch(() => {});
        process.stderr.write(`driver.test: page at the failure: ${shot}; console errors: ` +
          `${JSON.stringify(consoleErrors)}\n`);
      }
      throw e;
    }
  };
}

async function newPage(url) {
  if (!browser)
    browser = await loadChromium().launch({ executablePath: chromiumPath(), headless: true });
  const ctx = await browser.newContext({ viewport: { width: 1440, height: 1000 } });
  const p = await ctx.newPage();
  p.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  p.on('pageerror', (e) => consoleErrors.push(String(e)));
  const res = await p.goto(url + '/');
  assert.equal(res.status(), 200);
  return p;
}

const text = async (sel) => ((await page.locator(sel).textContent()) || '').trim();

/** A step of the current supply as shown: {status, text} (null when absent). */
async function stepView(name) {
  return page.locator(`#steps li[data-step="${name}"]`).evaluate((li) => ({
    status: li.dataset.status,
    text: li.querySelector('.step-text')?.textContent.trim() ?? '',
  })).catch(() => null);
}

async function waitStep(name, statuses, { timeout = 15000, textRe } = {}) {
  return waitFor(async () => {
    sys.check();
    const v = await stepView(name);
    return v && statuses.includes(v.status) && (!textRe || textRe.test(v.text)) ? v : false;
  }, { timeout, what: `step ${name} ${statuses.join('|')}${textRe ? ` ${textRe}` : ''}` });
}

async function login(password) {
  await page.fill('#login-password', password);
  await page.click('#login-submit');
}

const eurToCents = (s) => Math.round(parseFloat(String(s).replace(/[^0-9.-]/g, '')) * 100);

async function waitCpsActive(ids) {
  const r = await sys.login(SEED.admin.user, SEED.admin.password);
  assert.equal(r.status, 200, r.text);
  await waitFor(async () => {
    sys.check();
    const cps = await sys.cpsById(r);
    return ids.every((id) => cps[id]?.state === 'ACTIVATED' && cps[id]?.engine_on_bus);
  }, { timeout: 30000, what: `${ids.join(', ')} ACTIVATED with their engines on the bus` });
  await Promise.all(ids.map((id) => sys.cps.get(id).engine.waitOutput('bus key ready', { timeout: 30000 })));
}

describe('driver dashboard over ZeroMQ', () => {
  before(async () => {
    chromiumPath();
    loadChromium();
    sys = await System.start();
    for (const id of CPS)
      await sys.startCp(id, { powerW: id === 'CP_001' ? 150000 : 11000 });
    await waitCpsActive(CPS);
    drv = await sys.startDriverWeb('driver1');
    await drv.waitOutput('Authenticated as driver1', { timeout: 20000 });
  });

  after(async () => {
    await browser?.close().catch(() => {});
    browser = null;
    await sys?.stop();
  });

  test('the API refuses without a session, another site, a wrong CSRF token', step(async () => {
    const get = (p, h = {}) => fetch(drv.webUrl + p, { headers: h });
    assert.equal((await get('/api/session')).status, 401);
    assert.equal((await get('/api/history')).status, 401);
    const info = await (await get('/api/info')).json();
    assert.equal(info.driver_id, 'driver1');
    const post = (p, body, h = {}) => fetch(drv.webUrl + p, {
      method: 'POST', headers: { 'content-type': 'application/json', ...h }, body: JSON.stringify(body) });
    assert.equal((await post('/api/request', { cp_id: 'CP_001' })).status, 401);
    assert.equal((await post('/api/login', { password: 'x' }, { origin: 'http://evil.example' })).status, 403);
    // A correct login over the API; a POST without its CSRF token is refused.
    const ok = await post('/api/login', { password: SEED.drivers.driver1 });
    assert.equal(ok.status, 200);
    const cookie = ok.headers.get('set-cookie');
    assert.match(cookie, /^evc_drv_driver1=[^;]+; HttpOnly; SameSite=Strict/);
    const c = cookie.split(';')[0];
    const body = await ok.json();
    assert.equal(body.driver_id, 'driver1');
    assert.equal((await post('/api/stop', {}, { cookie: c })).status, 403, 'no CSRF token');
    const none = await post('/api/stop', {}, { cookie: c, 'x-csrf-token': body.csrf_token });
    assert.equal(none.status, 409, 'nothing to stop');
    assert.equal((await none.json()).error, 'no supply in progress to stop');
  }));

  test('a wrong password is refused in words, nothing opens', step(async () => {
    page = await newPage(drv.webUrl);
    await page.locator('form#login-form').waitFor({ state: 'visible', timeout: 10000 });
    assert.equal(await text('#login-driver'), 'driver1');
    await login('not-the-password');
    await page.locator('#login-error').filter({ hasText: 'Wrong password' }).waitFor({ timeout: 15000 });
    assert.equal(await page.locator('#console-view').isVisible(), false);
    const cookies = await page.context().cookies();
    assert.equal(cookies.find((c) => c.name === 'evc_drv_driver1'), undefined, 'a cookie after a refusal');
  }));

  test('login: the console with the CPs in the admin page\'s colours and words', step(async () => {
    await login(SEED.drivers.driver1);
    await page.locator('#console-view').waitFor({ state: 'visible', timeout: 15000 });
    assert.equal(await text('#whoami'), 'driver1');
    for (const id of CPS) {
      const tile = page.locator(`.cp-tile[data-cp="${id}"]`);
      await tile.waitFor({ timeout: 10000 });
      await waitFor(async () => (await tile.getAttribute('data-state')) === 'ACTIVATED',
        { timeout: 10000, what: `${id} ACTIVATED on the page` });
      assert.equal(await tile.evaluate((e) => getComputedStyle(e).backgroundColor), COLOUR.ACTIVATED);
      assert.equal((await tile.locator('.cp-state').textContent()).trim(), 'ACTIVATED');
    }
    assert.match(await text('.cp-tile[data-cp="CP_002"] .cp-price'), /0\.30 EUR\/kWh/);
    assert.match(await text('#fig-balance'), /^150\.00 EUR$/);
    const cookie = (await page.context().cookies()).find((c) => c.name === 'evc_drv_driver1');
    assert.equal(cookie?.httpOnly, true);
  }));

  test('request a CP: every step, live figures each second, Stop, the ticket and the new balance', step(async () => {
    const balanceBefore = eurToCents(await text('#fig-balance'));
    await page.click('.cp-tile[data-cp="CP_001"] .cp-request');
    await waitStep('received', ['done', 'current']);
    await waitStep('checking', ['done', 'current']);
    await waitStep('authorised', ['done', 'current']);
    await waitStep('plug_in', ['current'], { textRe: /CP_001/ });
    assert.equal(await text('#fig-state'), 'Plug in your vehicle');
    sys.engine('CP_001', 'plug');
    await waitStep('supplying', ['current']);
    await drv.waitOutput('Supplying at CP_001: ', { timeout: 10000 });
    // Live: kWh, EUR and elapsed move at every telemetry second.
    const seen = [];
    for (let i = 0; i < 3; i++) {
      const before = await Promise.all(['#live-kwh', '#live-eur', '#live-elapsed'].map(text));
      const now = await waitFor(async () => {
        const v = await Promise.all(['#live-kwh', '#live-eur', '#live-elapsed'].map(text));
        return v[0] !== before[0] && v[1] !== before[1] && v[2] !== before[2] ? v : false;
      }, { timeout: 2500, interval: 50, what: `kWh, EUR and elapsed to change (were ${before})` });
      seen.push(now);
    }
    assert.match(seen[2][0], /^\d+\.\d{3} kWh$/);
    assert.match(await text('#live-kw'), /^1[45]\d\.\d\d kW$/, '150 kW +-5 %');
    await waitFor(async () => page.locator('#power-chart canvas').count(), { timeout: 5000, what: 'the power chart' });
    assert.equal(await page.locator('#stop').isEnabled(), true);
    fs.mkdirSync(SHOTS, { recursive: true });
    await page.screenshot({ path: path.join(SHOTS, 'driver.png'), fullPage: true });
    await page.click('#stop');
    await waitStep('stopping', ['warn']);
    await waitStep('ended', ['done'], { textRe: /driver_stop \(stopped by the driver\)/ });
    const ticket = page.locator('#ticket');
    await ticket.waitFor({ state: 'visible', timeout: 15000 });
    const tt = await ticket.textContent();
    assert.match(tt, /Ticket · CP_001/);
    assert.match(tt, /driver_stop \(stopped by the driver\)/);
    const rows = sys.sql("SELECT amount_cents, energy_wh, end_reason FROM tickets WHERE driver_id='driver1'");
    assert.equal(rows.length, 1);
    assert.equal(rows[0].end_reason, 'driver_stop');
    assert.ok(rows[0].energy_wh > 0);
    assert.match(tt, new RegExp(`${(rows[0].amount_cents / 100).toFixed(2)} EUR`));
    await waitFor(async () => eurToCents(await text('#fig-balance')) === balanceBefore - rows[0].amount_cents,
      { timeout: 5000, what: `the balance to become ${balanceBefore - rows[0].amount_cents} cents` });
  }));

  test('"Any free CP": CENTRAL picks the cheapest free one; a stop before the plug bills 0', step(async () => {
    await waitFor(async () => page.locator('#any-cp').isEnabled(), { timeout: 5000, what: 'Any free CP enabled' });
    await page.click('#any-cp');
    await waitStep('plug_in', ['current'], { textRe: /CP_002/ });
    assert.match(await text('#supply-meta'), /^CP_002 · session /);
    await page.click('#stop');
    await waitStep('ended', ['done'], { textRe: /driver_stop/ });
    await page.locator('#ticket').filter({ hasText: 'Ticket · CP_002' }).waitFor({ timeout: 15000 });
    assert.match(await text('#ticket'), /0\.000 kWh/);
  }));

  test('a denied request shows its reason in words', step(async () => {
    sys.central.send('stop all');
    await waitFor(async () => (await page.locator('.cp-tile[data-state="STOPPED"]').count()) === 3,
      { timeout: 10000, what: 'the three tiles Out of Order' });
    const t = page.locator('.cp-tile[data-cp="CP_001"]');
    assert.equal((await t.locator('.cp-state').textContent()).trim(), 'Out of Order');
    assert.equal(await t.evaluate((e) => getComputedStyle(e).backgroundColor), COLOUR.STOPPED);
    assert.equal(await t.locator('.cp-request').isEnabled(), false, 'Request on an Out of Order CP');
    await page.click('#any-cp');
    const v = await waitStep('denied', ['failed'], { textRe: /no free charging point/ });
    assert.match(v.text, /^no_free_cp \(no free charging point\)$/);
    assert.equal(await text('#fig-state'), 'Denied');
    sys.central.send('resume all');
    await waitFor(async () => (await page.locator('.cp-tile[data-state="ACTIVATED"]').count()) === 3,
      { timeout: 10000, what: 'the tiles ACTIVATED again' });
  }));

  test('history from CENTRAL survives a restart of EV_Driver; the page reconnects by itself', step(async () => {
    await waitFor(async () => (await page.locator('#history tbody tr').count()) === 2,
      { timeout: 10000, what: 'two tickets in the history' });
    let navigations = 0;
    page.on('framenavigated', (f) => { if (f === page.mainFrame()) navigations++; });
    await page.evaluate(() => { window.__evcSamePage = 'still here'; });
    await drv.stop();
    await page.locator('#conn-banner').filter({ hasText: 'Unable to connect to EV_Driver' })
      .waitFor({ state: 'visible', timeout: 10000 });
    drv = await sys.startDriverWeb('driver1', { webPort: drv.webPort });
    await page.locator('#conn-banner').waitFor({ state: 'hidden', timeout: 20000 });
    // The new run has no ticket of its own: the history is Central's.
    await drv.waitOutput('Authenticated as driver1', { timeout: 20000 });
    await page.click('#history-refresh');
    await waitFor(async () => (await page.locator('#history tbody tr').count()) === 2,
      { timeout: 10000, what: 'the two tickets of the earlier run' });
    const reasons = await page.locator('#history tbody tr td:last-child').allTextContents();
    assert.deepEqual(reasons.map((r) => r.trim()), ['driver_stop (stopped by the driver)', 'driver_stop (stopped by the driver)']);
    assert.equal(await page.locator('#history-older').isVisible(), false, 'no older page');
    assert.equal(navigations, 0, 'the page reloaded');
    assert.equal(await page.evaluate(() => window.__evcSamePage), 'still here');
  }));

  test('Central killed and restarted: "Unable to connect to CENTRAL", then live again', step(async () => {
    await sys.killCentral();
    const banner = page.locator('#conn-banner');
    await banner.filter({ hasText: 'Unable to connect to CENTRAL' }).waitFor({ state: 'visible', timeout: 10000 });
    await sys.startCentral();
    await banner.waitFor({ state: 'hidden', timeout: 20000 });
    await waitFor(async () => (await page.locator('#any-cp').isEnabled()), { timeout: 10000, what: 'requests possible again' });
    await page.click('.cp-tile[data-cp="CP_003"] .cp-request');
    await waitStep('plug_in', ['current'], { textRe: /CP_003/, timeout: 20000 });
    await page.click('#stop');
    await waitStep('ended', ['done'], { textRe: /driver_stop/ });
  }));

  test('the page logged no errors in the console', step(async () => {
    const own = consoleErrors.filter((e) => !NET.test(e));
    assert.deepEqual(own, []);
  }));
});

describe('driver dashboard over Kafka', () => {
  before(async () => {
    sys = await System.start({ bus: 'kafka' });
    await sys.startCp('CP_002', { unattended: true });
    await waitCpsActive(['CP_002']);
    drv = await sys.startDriverWeb('driver2');
    await drv.waitOutput('Authenticated as driver2', { timeout: 30000 });
  });

  after(async () => {
    await browser?.close().catch(() => {});
    browser = null;
    await sys?.stop();
  });

  test('login, any free CP, the supply and its ticket, the history', step(async () => {
    page = await newPage(drv.webUrl);
    await page.locator('form#login-form').waitFor({ state: 'visible', timeout: 10000 });
    await login(SEED.drivers.driver2);
    await page.locator('#console-view').waitFor({ state: 'visible', timeout: 20000 });
    await page.locator('.cp-tile[data-cp="CP_002"][data-state="ACTIVATED"]').waitFor({ timeout: 15000 });
    await page.click('#any-cp');
    await waitStep('supplying', ['current', 'done'], { timeout: 30000 });
    await waitStep('ended', ['done'], { timeout: 30000, textRe: /unplugged/ });
    await page.locator('#ticket').filter({ hasText: 'Ticket · CP_002' }).waitFor({ timeout: 20000 });
    await waitFor(async () => (await page.locator('#history tbody tr').count()) === 1,
      { timeout: 15000, what: 'the ticket in the history' });
    assert.deepEqual(consoleErrors.filter((e) => !NET.test(e)), []);
  }));
});
