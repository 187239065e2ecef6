// system.mjs: a real EVCharging system for the browser tests (node built-ins only).
//
// The JavaScript twin of the C integration harness (tests/integration/harness):
// a temp dir ($TMPDIR/evc-web-XXXXXX, kept when EVC_IT_KEEP=1), free loopback
// ports drawn below the kernel's ephemeral range, the ZeroMQ bus
// (build/bin/evc-zmq-proxy), a freshly seeded database (`EV_Central --init-db
// --seed --force`, password_cost min), then Central, CP engines + monitors and
// drivers, one YAML config per process, each process in its own process group
// with stdout/stderr in <dir>/<name>.out|.err and stdin a pipe (engine menu:
// "k", "plug", "unplug"; Central's "stop CP_001").
//
// Waits are conditions polled until a deadline (waitFor); no bare sleeps.
// Cleanup always happens: stop() (SIGTERM, SIGKILL after 3 s) and, for a test
// that dies, an exit handler that SIGKILLs every group still alive; each
// child is also started under `setpriv --pdeathsig KILL` when available, so a
// killed node leaves no orphan.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export const REPO_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const BIN_DIR = path.resolve(process.env.EVC_BIN_DIR || path.join(REPO_DIR, 'build', 'bin'));
export const BUILD_DIR = path.dirname(BIN_DIR);

export const SEED = {
  admin: { user: 'admin', password: 'admin123' },
  drivers: { driver1: 'pass123', driver2: 'pass456' }, // roles/central/initdb.c
  cpSecret: (id) => `secret-${id}`,
};

// ---- browser ---------------------------------------------------------------

/** playwright-core's chromium: EVC_NODE_MODULES, else <build>/web-npm, else web/node_modules. */
export function loadChromium() {
  const dirs = [process.env.EVC_NODE_MODULES, path.join(BUILD_DIR, 'web-npm', 'node_modules'),
    path.join(REPO_DIR, 'web', 'node_modules')].filter(Boolean).map((d) => path.resolve(d));
  for (const d of dirs) {
    if (fs.existsSync(path.join(d, 'playwright-core', 'package.json')))
      return createRequire(path.join(d, 'noop.js'))('playwright-core').chromium;
  }
  throw new Error(`playwright-core not found in ${dirs.join(', ')}: build the evc_web target ` +
    '(cmake --build build, it runs npm ci into build/web-npm) or run make test');
}

/** The Debian chromium (EVC_CHROMIUM overrides); a clear failure when missing. */
export function chromiumPath() {
  const p = process.env.EVC_CHROMIUM || '/usr/bin/chromium';
  if (!fs.existsSync(p))
    throw new Error(`chromium not found at ${p}: install Debian's chromium ` +
      '(scripts/install-deps.sh, or make test, installs it) or set EVC_CHROMIUM');
  return p;
}

// ---- small helpers ---------------------------------------------------------

export const now = () => Number(process.hrtime.bigint() / 1000000n);
const nap = (ms) => new Promise((r) => setTimeout(r, ms));

/** An error that ends a wait at once (a program died): waitFor does not retry it. */
export class Fatal extends Error {}

/**
 * Polls `cond` (sync or async) every `interval` ms until it returns a truthy
 * value (returned) or `timeout` ms pass (throws "timed out: <what>", with the
 * last value or error seen). An error thrown by `cond` counts as "not yet",
 * except a Fatal, which ends the wait.
 */
export async function waitFor(cond, { timeout = 10000, interval = 50, what = 'condition' } = {}) {
  const deadline = now() + timeout;
  let last;
  for (;;) {
    try {
      const v = await cond();
      if (v)
        return v;
      last = v;
    } catch (e) {
      if (e instanceof Fatal)
        throw e;
      last = e;
    }
    if (now() >= deadline) {
      const detail = last instanceof Error ? last.message : JSON.stringify(last);
      throw new Error(`timed out after ${timeout} ms waiting for ${what} (last: ${detail})`);
    }
    await nap(interval);
  }
}

// Ports below the ephemeral range (h_net.c): a port the OS hands out for
// bind(0) may be taken by any outgoing connection before the program binds it.
let ephLo = 0;
function portCandidate() {
  if (!ephLo) {
    ephLo = 32768;
    try {
      const v = parseInt(fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8'), 10);
      if (v >= 11000)
        ephLo = v;
    } catch { /* default */ }
  }
  return 10000 + Math.floor(Math.random() * (ephLo - 10000 - 1));
}

function portFree(port) {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen({ port, host: '127.0.0.1', exclusive: true }, () => s.close(() => resolve(true)));
  });
}

const handedOut = new Set(); // never hand the same port twice in one run
export async function freePort(pair = false) {
  for (let i = 0; i < 500; i++) {
    const p = portCandidate();
    if (handedOut.has(p) || (pair && handedOut.has(p + 1)))
      continue;
    if (await portFree(p) && (!pair || await portFree(p + 1))) {
      handedOut.add(p);
      if (pair)
        handedOut.add(p + 1);
      return p;
    }
  }
  throw new Error('no free loopback port below the ephemeral range');
}

function portOpen(port) {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

// ---- processes ---------------------------------------------------------------

const liveGroups = new Set();
let exitHooked = false;
function hookExit() {
  if (exitHooked)
    return;
  exitHooked = true;
  const killAll = () => {
    for (const pid of liveGroups) {
      try { process.kill(-pid, 'SIGKILL'); } catch { /* gone */ }
    }
    liveGroups.clear();
  };
  process.on('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.once(sig, () => { killAll(); process.exit(128 + os.constants.signals[sig]); });
  }
}

const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => fs.existsSync(p));

/** One program of the scenario, in its own process group. */
export class Proc {
  constructor(sys, name, argv, extraEnv = {}) {
    hookExit();
    this.name = name;
    const gen = sys.procs.filter((p) => p.name === name).length;
    const base = path.join(sys.dir, gen ? `${name}.${gen}` : name);
    this.out = `${base}.out`;
    this.err = `${base}.err`;
    const out = fs.openSync(this.out, 'w');
    const err = fs.openSync(this.err, 'w');
    const [cmd, ...args] = SETPRIV ? [SETPRIV, '--pdeathsig', 'KILL', ...argv] : argv;
    this.child = spawn(cmd, args, {
      cwd: sys.dir, detached: true, stdio: ['pipe', out, err],
      env: { ...process.env, ...extraEnv },
    });
    fs.closeSync(out);
    fs.closeSync(err);
    this.pid = this.child.pid;
    this.exited = false;
    this.exit = null;
    this.asked = false; // the test stopped or killed it
    this.child.stdin.on('error', () => { /* a dead reader: EPIPE */ });
    liveGroups.add(this.pid);
    this.done = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exited = true;
        this.exit = { code, signal };
        try { process.kill(-this.pid, 'SIGKILL'); } catch { /* group gone */ }
        liveGroups.delete(this.pid);
        resolve(this.exit);
      });
    });
    sys.procs.push(this);
  }

  alive() { return !this.exited; }

  signal(sig) {
    if (sig === 'SIGKILL' || sig === 'SIGTERM')
      this.asked = true;
    if (!this.exited) {
      try { process.kill(-this.pid, sig); } catch { /* gone */ }
    }
  }

  /** SIGKILL the group and wait for the exit. */
  async kill() {
    this.signal('SIGKILL');
    await this.done;
  }

  /** SIGTERM, SIGKILL after `ms`; resolves with the exit. */
  async stop(ms = 3000) {
    if (this.exited)
      return this.exit;
    this.signal('SIGTERM');
    const t = setTimeout(() => {
      process.stderr.write(`system: ${this.name} did not stop within ${ms} ms of SIGTERM: SIGKILL\n`);
      this.signal('SIGKILL');
    }, ms);
    await this.done;
    clearTimeout(t);
    return this.exit;
  }

  send(line) {
    if (!this.exited && this.child.stdin.writable)
      this.child.stdin.write(`${line}\n`);
  }

  output() {
    const r = (f) => { try { return fs.readFileSync(f, 'utf8'); } catch { return ''; } };
    return r(this.out) + r(this.err);
  }

  async waitOutput(needle, { timeout = 10000, times = 1 } = {}) {
    return waitFor(() => this.output().split(needle).length - 1 >= times,
      { timeout, what: `"${needle}" in ${this.name}'s output` });
  }
}

// ---- the system ------------------------------------------------------------

const DEFAULTS = {
  heartbeatTimeoutMs: 2000,
  centralTimeoutMs: 3000,
  healthTimeoutMs: 600,
  monitorTimeoutMs: 1500,
  authoriseTimeoutMs: 3000,
  registration: 'closed',
  minBalanceCents: 100,
};

export class System {
  constructor(opts = {}) {
    this.opts = { ...DEFAULTS, ...opts };
    this.procs = [];
    this.cps = new Map(); // id -> {engine, monitor, port}
    this.central = null;
  }

  static async start(opts = {}) {
    const sys = new System(opts);
    try {
      await sys.#init();
    } catch (e) {
      sys.dump();
      await sys.stop();
      throw e;
    }
    return sys;
  }

  bin(name) {
    const p = path.join(BIN_DIR, name);
    if (!fs.existsSync(p))
      throw new Error(`${p} is missing: build first (cmake --build build) or set EVC_BIN_DIR`);
    return p;
  }

  async #init() {
    this.dir = fs.mkdtempSync(path.join(process.env.TMPDIR || os.tmpdir(), 'evc-web-'));
    this.db = path.join(this.dir, 'central.db');
    this.centralPort = await freePort();
    this.httpPort = await freePort();
    this.url = `http://127.0.0.1:${this.httpPort}`;
    await this.#startBus();
    const cfg = this.#writeConfig('central', this.#centralYaml());
    const r = spawnSync(this.bin('EV_Central'), ['--config', cfg, '--init-db', '--seed', '--force'],
      { cwd: this.dir, encoding: 'utf8', timeout: 60000 });
    if (r.status !== 0)
      throw new Error(`EV_Central --init-db: exit ${r.status}\n${r.stdout}${r.stderr}`);
    await this.startCentral();
  }

  async #startBus() {
    if (this.opts.bus === 'kafka')
      return this.#startKafka();
    // The proxy binds PORT (XSUB) and PORT+1 (XPUB); a port taken in the
    // meantime makes it exit: try again.
    for (let attempt = 0; attempt < 5; attempt++) {
      const port = await freePort(true);
      this.bus = `127.0.0.1:${port}`;
      const p = new Proc(this, 'bus', [this.bin('evc-zmq-proxy'), '--hwm', '0', this.bus]);
      try {
        await waitFor(async () => p.exited ? Promise.reject(new Error('exited'))
          : (await portOpen(port)) && portOpen(port + 1), { timeout: 5000, what: 'the bus' });
        this.busProc = p;
        return;
      } catch {
        await p.kill();
      }
    }
    throw new Error('evc-zmq-proxy did not start');
  }

  /** opts.bus 'kafka': the Kafka mock cluster (as tests/integration/harness). */
  async #startKafka() {
    const boot = path.join(this.dir, 'kafka.bootstrap');
    const p = new Proc(this, 'bus', [this.bin('evc-kafka-mock'), '--bootstrap-file', boot]);
    this.busProc = p;
    this.bus = await waitFor(() => {
      if (p.exited)
        throw new Error(`evc-kafka-mock exited ${JSON.stringify(p.exit)}`);
      const t = fs.existsSync(boot) ? fs.readFileSync(boot, 'utf8').split('\n')[0].trim() : '';
      return t || false;
    }, { timeout: 10000, what: 'the Kafka mock\'s bootstrap address' });
  }

  #transportYaml(name) {
    if (this.opts.bus !== 'kafka')
      return `transport:\n  plugin: zmq\n  endpoint: "${this.bus}"\n  client_id: "${name}"\n` +
        '  zmq:\n    linger_ms: 200\n';
    // One consumer group per process (client_id), short Kafka timings.
    return `transport:\n  plugin: kafka\n  endpoint: "${this.bus}"\n  client_id: "${name}"\n` +
      '  kafka:\n    properties:\n      log_level: "4"\n' +
      '    consumer_properties:\n      fetch.wait.max.ms: "5"\n      session.timeout.ms: "6000"\n' +
      '      heartbeat.interval.ms: "500"\n      auto.commit.interval.ms: "200"\n' +
      '    producer_properties:\n      linger.ms: "1"\n    retry_delay_ms: 50\n';
  }

  #writeConfig(name, roleYaml) {
    const file = path.join(this.dir, `${name}.yaml`);
    fs.writeFileSync(file,
      '# written by tests/web/lib/system.mjs\n' +
      'log:\n  level: debug\n' + this.#transportYaml(name) +
      `store:\n  plugin: sqlite\n  database: "${this.db}"\n` + (roleYaml || ''));
    return file;
  }

  /** A config file for another program of this system (bus, store, log as the others'). */
  writeConfig(name, roleYaml) { return this.#writeConfig(name, roleYaml); }

  #centralYaml() {
    const o = this.opts;
    return 'central:\n' +
      `  listen_port: ${this.centralPort}\n` +
      `  http_port: ${this.httpPort}\n` +
      '  http_host: 127.0.0.1\n' +
      (o.centralListenHost ? `  listen_host: "${o.centralListenHost}"\n` : '') +
      '  password_cost: min\n' +
      `  registration: ${o.registration}\n` +
      '  panel: plain\n' +
      `  heartbeat_timeout_ms: ${o.heartbeatTimeoutMs}\n` +
      `  authorise_timeout_ms: ${o.authoriseTimeoutMs}\n` +
      `  min_balance_cents: ${o.minBalanceCents}\n` +
      (process.env.EVC_WEB_STATIC_DIR ? `web:\n  static_dir: "${process.env.EVC_WEB_STATIC_DIR}"\n` : '');
  }

  /** Starts Central and waits until its HTTP API answers. */
  async startCentral() {
    const cfg = this.#writeConfig('central', this.#centralYaml());
    const p = new Proc(this, 'central', [this.bin('EV_Central'), '--config', cfg,
      String(this.centralPort), this.bus, this.db]);
    this.central = p;
    await waitFor(async () => {
      if (p.exited)
        throw new Fatal(`Central exited ${JSON.stringify(p.exit)}: ${p.output().trim().split('\n').slice(-3).join(' | ')}`);
      const r = await this.http('GET', '/api/health').catch(() => null);
      return r && r.status === 200;
    }, { timeout: 15000, what: 'Central\'s HTTP API' });
    return p;
  }

  async killCentral() { await this.central.kill(); }

  /** Starts the engine and the monitor of a CP (secret: the seeded one by default). */
  async startCp(id, { powerW = 11000, secret = SEED.cpSecret(id), unattended = false,
    location, priceCents, webPort = 0 } = {}) {
    const o = this.opts;
    const port = await freePort();
    const ename = `${id}-engine`;
    const ecfg = this.#writeConfig(ename,
      'cp_engine:\n' +
      `  database: "${path.join(this.dir, `${ename}.db`)}"\n` +
      `  secret: "${secret}"\n` +
      `  central_timeout_ms: ${o.centralTimeoutMs}\n` +
      `  monitor_timeout_ms: ${o.monitorTimeoutMs}\n` +
      '  outbox_retry_ms: 1000\n' +
      '  power_variation_pct: 5\n' +
      `  unattended:\n    enabled: ${unattended}\n    plug_after_ms: 200\n    unplug_after_ms: 1200\n` +
      `  power_w: ${powerW}\n`);
    const engine = new Proc(this, ename, [this.bin('EV_CP_E'), '--config', ecfg, this.bus,
      `127.0.0.1:${port}`, id]);
    // webPort: the monitor's dashboard (cp_monitor.web_port); 0 = no page (the
    // default 8003 would collide between the CPs of one system).
    const cp = { id, port, engine, monitor: null, secret, location, priceCents, webPort };
    this.cps.set(id, cp);
    await this.startMonitor(id);
    return cp;
  }

  async startMonitor(id) {
    const cp = this.cps.get(id);
    const mname = `${id}-monitor`;
    const mcfg = this.#writeConfig(mname,
      'cp_monitor:\n' +
      `  secret: "${cp.secret}"\n` +
      (cp.location ? `  location: "${cp.location}"\n` : '') +
      (cp.priceCents ? `  price_cents_per_kwh: ${cp.priceCents}\n` : '') +
      '  health_interval_ms: 300\n' +
      `  health_timeout_ms: ${this.opts.healthTimeoutMs}\n` +
      '  heartbeat_interval_ms: 300\n' +
      '  backoff_min_ms: 100\n  backoff_max_ms: 500\n' +
      '  deny_retry_min_ms: 500\n  deny_retry_max_ms: 2000\n' +
      `  web_port: ${cp.webPort || 0}\n` +
      (process.env.EVC_WEB_STATIC_DIR ? `web:\n  static_dir: "${process.env.EVC_WEB_STATIC_DIR}"\n` : ''));
    cp.monitor = new Proc(this, mname, [this.bin('EV_CP_M'), '--config', mcfg,
      `127.0.0.1:${cp.port}`, `127.0.0.1:${this.centralPort}`, id]);
    return cp.monitor;
  }

  /** A line on the engine's menu: "k" (KO <-> OK), "plug", "unplug", "request <driver>". */
  engine(id, line) { this.cps.get(id).engine.send(line); }

  /** The monitor killed: Central marks the CP DISCONNECTED after its heartbeat timeout. */
  async killMonitor(id) { await this.cps.get(id).monitor.kill(); }

  /** EV_Driver with a services file of `cpIds` (one request each, then exit). */
  startDriver(driverId, cpIds, { password = SEED.drivers[driverId], waitBetweenMs = 200 } = {}) {
    const services = path.join(this.dir, `${driverId}-services.txt`);
    fs.writeFileSync(services, `# services of a web test\n${cpIds.join('\n')}\n`);
    const cfg = this.#writeConfig(driverId,
      'driver:\n' +
      `  central_timeout_ms: ${this.opts.centralTimeoutMs}\n` +
      `  wait_between_ms: ${waitBetweenMs}\n` +
      '  request_timeout_ms: 20000\n' +
      '  exit_when_done: true\n' +
      '  skip_unknown_cps: false\n' +
      '  colour: never\n' +
      '  web_port: 0\n'); // no page: 8001 would collide (several drivers, a demo)
    return new Proc(this, driverId, [this.bin('EV_Driver'), '--config', cfg, this.bus, driverId,
      services], { EVC_DRIVER_PASSWORD: password });
  }

  /**
   * EV_Driver with its web page (driver.web_port, a free port unless given),
   * interactive (no services file). password: the app's own password
   * (EVC_DRIVER_PASSWORD), null = none (only the page can log it in).
   * Resolves the Proc with .webPort and .webUrl once the page answers.
   */
  async startDriverWeb(driverId, { password = SEED.drivers[driverId], webPort } = {}) {
    const port = webPort || await freePort();
    const cfg = this.#writeConfig(driverId,
      'driver:\n' +
      `  central_timeout_ms: ${this.opts.centralTimeoutMs}\n` +
      '  request_timeout_ms: 20000\n' +
      '  colour: never\n' +
      `  web_port: ${port}\n  web_host: 127.0.0.1\n` +
      (process.env.EVC_WEB_STATIC_DIR ? `web:\n  static_dir: "${process.env.EVC_WEB_STATIC_DIR}"\n` : ''));
    const env = password === null ? {} : { EVC_DRIVER_PASSWORD: password };
    if (password === null)
      env.EVC_DRIVER_PASSWORD = '';
    const p = new Proc(this, driverId, [this.bin('EV_Driver'), '--config', cfg, this.bus, driverId],
      env);
    p.webPort = port;
    p.webUrl = `http://127.0.0.1:${port}`;
    await waitFor(async () => {
      if (p.exited)
        throw new Fatal(`${driverId} exited ${JSON.stringify(p.exit)}: ${p.output().trim().split('\n').slice(-3).join(' | ')}`);
      return portOpen(port);
    }, { timeout: 10000, what: `${driverId}'s page on ${port}` });
    return p;
  }

  // ---- observation ---------------------------------------------------------

  /** Rows of a query on Central's database, read-only (`sqlite3 -readonly -json`). */
  sql(query) {
    const r = spawnSync('sqlite3', ['-readonly', '-json', '-cmd', '.timeout 2000', this.db, query],
      { encoding: 'utf8', timeout: 10000 });
    if (r.error)
      throw new Error(`sqlite3: ${r.error.message} (install Debian's sqlite3)`);
    if (r.status !== 0)
      throw new Error(`sqlite3 ${query}: exit ${r.status}: ${r.stderr}`);
    return r.stdout.trim() ? JSON.parse(r.stdout) : [];
  }

  /** The admin_state column of every CP: {CP_001: 'in_service', ...}. */
  adminStates() {
    return Object.fromEntries(this.sql('SELECT id, admin_state FROM charging_points ORDER BY id')
      .map((r) => [r.id, r.admin_state]));
  }

  /**
   * An HTTP request to Central. `session` = {cookie, csrf} from login();
   * csrf: false leaves the X-CSRF-Token header out. Resolves {status, body, headers}.
   */
  async http(method, urlPath, { body, session, csrf = true, headers = {} } = {}) {
    const h = { ...headers };
    if (body !== undefined)
      h['content-type'] = 'application/json';
    if (session?.cookie)
      h.cookie = session.cookie;
    if (session?.csrf && csrf)
      h['x-csrf-token'] = session.csrf;
    const res = await fetch(this.url + urlPath, {
      method, headers: h, body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(10000),
    });
    const text = await res.text();
    let json = null;
    try { json = JSON.parse(text); } catch { /* not JSON */ }
    return { status: res.status, body: json, text, headers: res.headers };
  }

  /** POST /api/login; resolves {status, body, cookie, csrf}. */
  async login(user, password) {
    const r = await this.http('POST', '/api/login', { body: { user, password } });
    const set = r.headers.get('set-cookie') || '';
    const m = /evc_session=([^;]*)/.exec(set);
    return { ...r, cookie: m ? `evc_session=${m[1]}` : null, csrf: r.body?.csrf_token };
  }

  /** GET /api/cps as admin: {CP_001: cp, ...}. */
  async cpsById(session) {
    const r = await this.http('GET', '/api/cps', { session });
    if (r.status !== 200)
      throw new Error(`GET /api/cps: ${r.status} ${r.text}`);
    return Object.fromEntries(r.body.cps.map((c) => [c.id, c]));
  }

  /** Prints the tail of every program's output (on a failure). */
  dump(lines = 25) {
    process.stderr.write(`===== web test system ${this.dir} (bus ${this.bus}, ` +
      `central ${this.centralPort}, http ${this.httpPort}) =====\n`);
    for (const p of this.procs) {
      for (const f of [p.out, p.err]) {
        let s = '';
        try { s = fs.readFileSync(f, 'utf8'); } catch { /* none */ }
        if (s)
          process.stderr.write(`----- ${path.basename(f)} (last ${lines} lines) -----\n` +
            `${s.split('\n').slice(-lines - 1).join('\n')}\n`);
      }
    }
  }

  /** Clients first, Central next, the bus last; the dir is removed unless EVC_IT_KEEP. */
  async stop() {
    if (this.stopped)
      return;
    this.stopped = true;
    const clients = this.procs.filter((p) => p !== this.busProc && !p.name.startsWith('central'));
    await Promise.all(clients.map((p) => p.stop()));
    await Promise.all(this.procs.filter((p) => p !== this.busProc).map((p) => p.stop()));
    if (this.busProc)
      await this.busProc.stop();
    for (const p of this.procs) {
      if (p.exit?.signal && !['SIGTERM', 'SIGKILL'].includes(p.exit.signal))
        process.stderr.write(`system: ${p.name} died of ${p.exit.signal} (see ${p.err})\n`);
      const e = p.output();
      for (const mark of ['ERROR: AddressSanitizer', 'ERROR: LeakSanitizer', 'runtime error:']) {
        if (e.includes(mark))
          process.stderr.write(`system: ${p.name}: ${mark} (see ${p.err})\n`);
      }
    }
    const keep = process.env.EVC_IT_KEEP;
    if (this.dir && keep && keep !== '0')
      process.stderr.write(`system: kept ${this.dir}\n`);
    else if (this.dir)
      fs.rmSync(this.dir, { recursive: true, force: true });
  }

  /**
   * Throws a Fatal (ends any waitFor at once) when a program exited without
   * the test asking, other than a driver done with its services (exit 0).
   */
  check() {
    const dead = this.procs.filter((p) => p.exited && !p.asked && p !== this.busProc &&
      !(p.exit.code === 0 && p.name.startsWith('driver')));
    if (this.busProc?.exited && !this.busProc.asked)
      dead.push(this.busProc);
    if (dead.length)
      throw new Fatal(dead.map((p) => `${p.name} exited ${JSON.stringify(p.exit)} by itself: ` +
        p.output().trim().split('\n').slice(-3).join(' | ')).join('; '));
  }

  /** Processes that died of a signal other than our SIGTERM/SIGKILL. */
  crashes() {
    return this.procs.filter((p) => p.exit?.signal && !['SIGTERM', 'SIGKILL'].includes(p.exit.signal))
      .map((p) => `${p.name}: ${p.exit.signal}`);
  }
}
