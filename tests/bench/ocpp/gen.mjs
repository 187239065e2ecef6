// gen.mjs: one generator process of bench.mjs (forked GENS times, so that the
// load is not bound by one node event loop). It holds its slice of chargers
// connected and booted to both servers, and on each command from the parent
// offers a paced load to one of them: RATE calls/s (Heartbeat and MeterValues
// alternating), each issued on a charger with no call outstanding (OCPP allows
// one). A tick finding no idle charger counts the call as "refused" (the
// offered load was not carried); latency is measured per call.
//
// It speaks OCPP-J over plain `ws` WebSockets (the package ocpp-rpc itself
// uses, in <build>/ocpp-npm) rather than through ocpp-rpc clients: a call is
// one string concatenation and one send, an answer one JSON.parse and two
// comparisons, so the generators no longer take most of the machine and the
// servers saturate before they do. Nothing is skipped that would flatter a
// server: every answer is parsed and correlated by its message id with the
// one call outstanding on that charger; a CALLERROR, an answer to another id,
// an unparsable frame or a result without its required field (Heartbeat:
// currentTime) counts as an error; a call with no answer by the end of the
// round is missing (bench.mjs fails on either). Both servers get the very
// same frames.
import path from 'node:path';
import { createRequire } from 'node:module';

const req = createRequire(path.join(process.env.EVC_OCPP_NODE_MODULES, 'noop.js'));
const WebSocket = req('ws'); // ocpp-rpc's dependency, flattened into node_modules
const BOOT = JSON.stringify({ chargePointVendor: 'Bench', chargePointModel: 'B1' });
const TICK_MS = 5;
const ANSWER_WAIT_MS = 30000; // after a round, how long its last calls may take

const sets = {}; // server label -> { cs: [charger], idle: ring of idle chargers }
let round = null; // the round in progress (offer), for the message handler

/** A charger: its socket, the id of its one outstanding call ('' = idle). */
function charger(url, id, secret) {
  const c = { id, ws: null, out: '', sentAt: 0, isHb: false, n: 0, boot: null };
  c.ws = new WebSocket(`${url}/${id}`, ['ocpp1.6'], { perMessageDeflate: false,
    headers: { Authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}` } });
  c.ws.on('message', (data) => onFrame(c, data));
  return c;
}

function onFrame(c, data) {
  let f;
  try {
    f = JSON.parse(data);
  } catch {
    f = null;
  }
  if (Array.isArray(f) && f[0] === 2) { // a server's CALL: not part of this load
    c.ws.send(JSON.stringify([4, f[1], 'NotImplemented', 'bench charger', {}]));
    return;
  }
  if (c.boot) { // BootNotification during connect()
    const b = c.boot;
    c.boot = null;
    b(f);
    return;
  }
  const r = round;
  if (!r || !c.out) {
    if (r)
      r.errors++; // an answer nobody asked for
    return;
  }
  const ok = Array.isArray(f) && f[0] === 3 && f[1] === c.out && f[2] !== null &&
    typeof f[2] === 'object' && (!c.isHb || typeof f[2].currentTime === 'string');
  if (ok) {
    r.lat.push(performance.now() - c.sentAt);
    r.answered++;
  } else {
    r.errors++;
  }
  c.out = '';
  r.idle.push(c);
}

function boot(c) {
  return new Promise((resolve) => {
    c.boot = (f) => resolve(Array.isArray(f) && f[0] === 3 && f[2] && f[2].status);
    c.ws.send(`[2,"boot-${++c.n}","BootNotification",${BOOT}]`);
  });
}

async function connect({ label, url, ids, secrets }) {
  const cs = ids.map((id, i) => charger(url, id, secrets[i]));
  await Promise.all(cs.map((c) => new Promise((resolve, reject) => {
    c.ws.once('open', resolve);
    c.ws.once('error', reject);
    c.ws.once('unexpected-response', (_, res) =>
      reject(new Error(`${c.id}: upgrade refused, HTTP ${res.statusCode}`)));
  })));
  let todo = cs;
  while (todo.length) { // a boot is answered Pending until the CP is proved at Central
    const st = await Promise.all(todo.map(boot));
    if (st.some((s) => s !== 'Accepted' && s !== 'Pending'))
      throw new Error(`BootNotification answered ${st.find((s) => s !== 'Accepted' && s !== 'Pending')}`);
    todo = todo.filter((_, i) => st[i] !== 'Accepted');
    if (todo.length)
      await new Promise((r) => setTimeout(r, 200));
  }
  sets[label] = cs;
}

/** A FIFO of idle chargers (an array used as a ring: O(1) both ends). */
function ring(cap) {
  const a = new Array(cap);
  let head = 0, len = 0;
  return {
    push(c) { a[(head + len++) % cap] = c; },
    shift() {
      if (!len)
        return null;
      const c = a[head];
      head = (head + 1) % cap;
      len--;
      return c;
    },
  };
}

async function offer({ label, rate, seconds }) {
  const cs = sets[label];
  const r = round = { lat: [], answered: 0, errors: 0, idle: ring(cs.length) };
  for (const c of cs)
    r.idle.push(c);
  let issued = 0, refused = 0, n = 0;
  let ts = new Date().toISOString(), meter = 0;
  const t0 = performance.now();
  await new Promise((done) => {
    const timer = setInterval(() => {
      const el = performance.now() - t0;
      if (el >= seconds * 1000) {
        clearInterval(timer);
        done();
        return;
      }
      ts = new Date().toISOString(); // one timestamp per tick, as a charger's clock would give
      const due = Math.floor(el * rate / 1000) - issued - refused;
      for (let k = 0; k < due; k++) {
        const c = r.idle.shift();
        if (!c) {
          refused++;
          continue;
        }
        issued++;
        c.out = `m${++c.n}`;
        c.isHb = (n++ & 1) === 0;
        c.sentAt = performance.now();
        c.ws.send(c.isHb ? `[2,"${c.out}","Heartbeat",{}]`
          : `[2,"${c.out}","MeterValues",{"connectorId":1,"meterValue":[{"timestamp":"${ts}",` +
            `"sampledValue":[{"value":"${++meter}","measurand":"Energy.Active.Import.Register",` +
            '"unit":"Wh"}]}]}]');
      }
    }, TICK_MS);
  });
  const secs = (performance.now() - t0) / 1000;
  const deadline = performance.now() + ANSWER_WAIT_MS;
  while (r.answered + r.errors < issued && performance.now() < deadline)
    await new Promise((res) => setTimeout(res, 5));
  round = null;
  for (const c of cs)
    c.out = ''; // a call still unanswered is counted missing by the parent
  return { issued, answered: r.answered, errors: r.errors, refused, secs, lat: r.lat };
}

process.on('message', async (m) => {
  try {
    if (m.cmd === 'connect') {
      await connect(m);
      process.send({ ok: true });
    } else if (m.cmd === 'offer') {
      process.send({ ok: true, ...(await offer(m)) });
    } else if (m.cmd === 'close') {
      for (const c of Object.values(sets).flat())
        c.ws.terminate();
      process.send({ ok: true });
      process.exit(0);
    }
  } catch (e) {
    process.send({ ok: false, error: String(e && e.stack || e) });
  }
});
