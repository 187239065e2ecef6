// monitor.test.mjs: the monitor dashboard (issue 13, web/monitor) in a real
// browser against a real system: Central, CP_001's engine and monitor (its page
// on a free port) and a driver over the ZeroMQ bus (docs/WEB.md "The monitor
// dashboard", tests/web/README.md).
//
//   node --test tests/web/monitor.test.mjs   (ctest -R web_monitor sets the env)
//   EVC_WEB_SCREENSHOTS=<repo>/docs/img writes docs/img/monitor.png; without it
//   the screenshot goes to <build>/web-screenshots/.
//
// The tests run in order on one system and one page: each starts from the
// state the previous one left.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { BUILD_DIR, Proc, System, chromiumPath, freePort, loadChromium, now, waitFor } from './lib/system.mjs';

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
const CP = 'CP_001';
const POWER_W = 22000;
const SHOTS = process.env.EVC_WEB_SCREENSHOTS || path.join(BUILD_DIR, 'web-screenshots');

let sys;
let cp;        // {engine, monitor, webPort, ...}
let url;       // the monitor's page
let browser;
let page;
const consoleErrors = [];

function step(fn) {
  return async (t) => {
    try {
      await fn(t);
    } catch (e) {
      sys?.dump();
      if (page) {
        const shot = path.join(sys?.dir || SHOTS, `failure-${Date.now()}.png`);
        await page.screenshot({ path: shot, fullPage: true }).catch(() => {});
        process.stderr.write(`monitor.test: page at the failure: ${shot}; console errors: ` +
          `${JSON.stringify(consoleErrors)}\n`);
      }
      throw e;
    }
  };
}

/** What the user sees of the state and the figures. */
function view() {
  return page.evaluate(() => {
    const q = (s) => document.querySelector(s);
    const tile = q('#cp-state');
    const alerts = [...document.querySelectorAll('#alerts .alert')].map((li) => ({
      kind: li.dataset.kind, text: li.querySelector('.al-text')?.textContent,
    }));
    return {
      state: tile.dataset.state,
      words: q('#cp-state-text').textContent.trim(),
      bg: getComputedStyle(tile).backgroundColor,
      cpId: q('#cp-id').textContent.trim(),
      central: q('#central-link').textContent.trim(),
      engine: q('#engine-link').textContent.trim(),
      health: q('#engine-health').textContent.trim(),
      failures: Number(q('#consecutive-failures').textContent),
      lastResult: q('#last-result').textContent.trim(),
      points: Number(q('#health-chart').dataset.points),
      usagePoints: Number(q('#usage-chart').dataset.points),
      strip: [...document.querySelectorAll('#health-strip .cell')].map((c) => c.dataset.r || ''),
      supply: q('#supply-state').textContent.trim(),
      kw: q('#supply-kw').textContent.trim(),
      kwh: q('#supply-kwh').textContent.trim(),
      session: q('#supply-session').textContent.trim(),
      alerts,
      banner: !q('#conn-banner').hidden,
      bannerText: q('#conn-banner').textContent.replace(/\s+/g, ' ').trim(),
    };
  });
}

async function waitView(what, pred, timeout = 10000) {
  return waitFor(async () => {
    sys.check();
    const v = await view();
    return pred(v) ? v : false;
  }, { timeout, what });
}

const stateIs = (s) => (v) => v.state === s && v.words === WORDS[s] && v.bg === COLOUR[s];

/** The engine again, as it was started (the harness keeps its argv in the child). */
function restartEngine() {
  const args = cp.engine.child.spawnargs;
  const i = args.findIndex((a) => a.endsWith('/EV_CP_E'));
  cp.engine = new Proc(sys, `${CP}-engine`, args.slice(i));
  return cp.engine;
}

before(async () => {
  sys = await System.start();
  const webPort = await freePort();
  cp = await sys.startCp(CP, { powerW: POWER_W, webPort });
  url = `http://127.0.0.1:${webPort}/`;
  await cp.monitor.waitOutput('Engine OK', { timeout: 20000 });
  const chromium = loadChromium();
  browser = await chromium.launch({ executablePath: chromiumPath(), headless: true });
  const ctx = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  page = await ctx.newPage();
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
});

after(async () => {
  await browser?.close().catch(() => {});
  const crashes = sys?.crashes() ?? [];
  await sys?.stop();
  assert.deepEqual(crashes, [], 'a program crashed');
});

describe('monitor dashboard in chromium', () => {
  test('the page shows the CP ACTIVATED in green, both links up', step(async () => {
    const res = await page.goto(url);
    assert.equal(res.status(), 200);
    const v = await waitView('ACTIVATED with both links', (x) => stateIs('ACTIVATED')(x) &&
      x.central.startsWith('Accepted') && x.engine === 'Answering' && x.health === 'OK');
    assert.equal(v.cpId, CP);
    assert.equal(v.banner, false);
    assert.equal(v.lastResult, 'OK');
    assert.equal(v.failures, 0);
    assert.equal(v.supply, 'idle');
    assert.ok(v.alerts.some((a) => a.kind === 'link_up'), JSON.stringify(v.alerts));
    // A page of another site may not read the feed (Origin), nor a rebinding name (Host).
    const evil = await fetch(`${url}api/monitor`, { headers: { origin: 'http://evil.example' } });
    assert.equal(evil.status, 403);
  }));

  test('the health chart grows with every check', step(async () => {
    const v0 = await view();
    const v = await waitView('4 more checks', (x) => x.points >= v0.points + 4, 5000);
    assert.ok(v.strip.filter((r) => r === 'ok').length >= 4, v.strip.join(','));
    assert.equal(v.failures, 0);
  }));

  test('engine KO (SIGUSR1): the red BROKEN state and the fault alert within 2 s; recovery the green', step(async () => {
    const t0 = now();
    cp.engine.signal('SIGUSR1');
    const ko = await waitView('BROKEN + fault alert', (x) => stateIs('BROKEN')(x) &&
      x.alerts[0]?.kind === 'fault' && x.health === 'KO', 2000);
    const tKo = now() - t0;
    assert.match(ko.alerts[0].text, /KO/);
    assert.ok(ko.failures >= 1);
    assert.equal(ko.lastResult, 'KO');
    const t1 = now();
    cp.engine.signal('SIGUSR1');
    const ok = await waitView('ACTIVATED + recovery alert', (x) => stateIs('ACTIVATED')(x) &&
      x.alerts[0]?.kind === 'recovery', 2000);
    const tOk = now() - t1;
    assert.equal(ok.failures, 0);
    assert.ok(ok.strip.includes('ko'), 'the strip keeps the KO checks');
    process.stderr.write(`monitor.test: KO shown after ${tKo} ms, recovery after ${tOk} ms\n`);
  }));

  test('a supply: SUPPLYING, live kW and kWh and the usage chart from the engine', step(async () => {
    const driver = sys.startDriver('driver1', [CP]);
    const auth = await waitView('SUPPLYING (authorised)', (x) => stateIs('SUPPLYING')(x) &&
      x.supply === 'authorised', 15000);
    assert.match(auth.session, /^[0-9a-f-]{36}$/);
    sys.engine(CP, 'plug');
    const u0 = (await waitView('supplying', (x) => x.supply === 'supplying', 5000)).usagePoints;
    const v = await waitView('power and energy', (x) => {
      const kw = parseFloat(x.kw);
      return x.usagePoints >= u0 + 8 && kw > POWER_W / 1000 * 0.9 && kw < POWER_W / 1000 * 1.1 &&
        parseFloat(x.kwh) > 0;
    }, 10000);
    assert.equal(v.session, auth.session);
    fs.mkdirSync(SHOTS, { recursive: true });
    await page.screenshot({ path: path.join(SHOTS, 'monitor.png'), fullPage: true });
    sys.engine(CP, 'unplug');
    await waitView('ACTIVATED after the unplug', (x) => stateIs('ACTIVATED')(x) && x.supply === 'idle' &&
      x.kw === '0.00 kW', 5000);
    await waitFor(() => driver.exited, { timeout: 15000, what: 'the driver done' });
  }));

  test('engine killed: "no answer", BROKEN and the lost link; back when it restarts', step(async () => {
    const t0 = now();
    await cp.engine.kill();
    const v = await waitView('no answer', (x) => stateIs('BROKEN')(x) && x.lastResult === 'no answer' &&
      x.alerts[0]?.kind === 'link_lost' && x.engine === 'Not reachable', 3000);
    process.stderr.write(`monitor.test: engine killed, "no answer" after ${now() - t0} ms\n`);
    await waitView('failures counting', (x) => x.failures >= v.failures + 3, 5000);
    restartEngine();
    await waitView('ACTIVATED again', (x) => stateIs('ACTIVATED')(x) && x.lastResult === 'OK' &&
      x.alerts[0]?.kind === 'link_regained', 15000);
  }));

  test('EV_CP_M killed: "Unable to connect to EV_CP_M"; restarted: live again without a reload', step(async () => {
    let navigations = 0;
    page.on('framenavigated', (f) => { if (f === page.mainFrame()) navigations++; });
    await page.evaluate(() => { window.__evcSamePage = 'still here'; });
    await sys.killMonitor(CP);
    await waitView('the banner', (x) => x.banner && x.bannerText.includes('Unable to connect to EV_CP_M'), 5000);
    await sys.startMonitor(CP);
    await waitView('live again', (x) => !x.banner && stateIs('ACTIVATED')(x) && x.lastResult === 'OK', 20000);
    // Live by push: a fault now reaches the page.
    cp.engine.signal('SIGUSR1');
    await waitView('BROKEN by push', stateIs('BROKEN'), 2000);
    cp.engine.signal('SIGUSR1');
    await waitView('ACTIVATED by push', stateIs('ACTIVATED'), 2000);
    assert.equal(navigations, 0, 'the page navigated (reloaded)');
    assert.equal(await page.evaluate(() => window.__evcSamePage), 'still here');
  }));

  test('the page logged no errors in the console', step(async () => {
    // Refused connections while EV_CP_M was away are network messages, not the page's errors.
    const net = /Failed to load resource|ERR_CONNECTION_REFUSED|WebSocket connection to/;
    const own = consoleErrors.filter((e) => !net.test(e));
    assert.deepEqual(own, []);
  }));
});
