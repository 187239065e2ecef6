// gen.mjs: one generator process of bench.mjs (forked K times, so that the
// load is not bound by one node event loop). It holds its slice of chargers
// connected and booted to both servers, and on each command from the parent
// offers a paced load to one of them: RATE calls/s (Heartbeat and MeterValues
// alternating), each issued on a charger with no call outstanding (OCPP allows
// one). A tick finding no idle charger counts the call as "refused" (the
// offered load was not carried); latency is measured per call.
import path from 'node:path';
import { createRequire } from 'node:module';

const req = createRequire(path.join(process.env.EVC_OCPP_NODE_MODULES, 'noop.js'));
const { RPCClient } = req('ocpp-rpc');
const BOOT = { chargePointVendor: 'Bench', chargePointModel: 'B1' };
const METER = (i) => ({ connectorId: 1, meterValue: [{ timestamp: new Date().toISOString(),
  sampledValue: [{ value: String(i), measurand: 'Energy.Active.Import.Register', unit: 'Wh' }] }] });
const TICK_MS = 5;

const sets = {}; // server label -> [{ client, busy }]

async function connect({ label, url, ids, secrets }) {
  const cs = ids.map((id, i) => ({ busy: false, client: new RPCClient({ endpoint: url,
    identity: id, protocols: ['ocpp1.6'], password: secrets[i], reconnect: false,
    callTimeoutMs: 30000 }) }));
  await Promise.all(cs.map((c) => c.client.connect()));
  for (;;) { // a boot may be answered Pending until the CP is proved at Central
    const todo = cs.filter((c) => !c.booted);
    if (!todo.length)
      break;
    await Promise.all(todo.map(async (c) => {
      c.booted = (await c.client.call('BootNotification', BOOT)).status === 'Accepted';
    }));
    if (cs.some((c) => !c.booted))
      await new Promise((r) => setTimeout(r, 200));
  }
  sets[label] = cs;
}

async function offer({ label, rate, seconds }) {
  const cs = sets[label];
  const lat = [];
  let issued = 0, answered = 0, errors = 0, refused = 0, next = 0, n = 0;
  const inflight = new Set();
  const t0 = performance.now();
  await new Promise((done) => {
    const timer = setInterval(() => {
      const el = performance.now() - t0;
      if (el >= seconds * 1000) {
        clearInterval(timer);
        done();
        return;
      }
      const due = Math.floor(el * rate / 1000) - issued - refused;
      for (let k = 0; k < due; k++) {
        let c = null;
        for (let j = 0; j < cs.length && !c; j++) {
          const x = cs[(next + j) % cs.length];
          if (!x.busy)
            c = x;
        }
        next = (next + 1) % cs.length;
        if (!c) {
          refused++;
          continue;
        }
        c.busy = true;
        issued++;
        const a = performance.now();
        const p = (n++ % 2 ? c.client.call('MeterValues', METER(n)) : c.client.call('Heartbeat', {}))
          .then(() => { lat.push(performance.now() - a); answered++; })
          .catch(() => { errors++; })
          .finally(() => { c.busy = false; inflight.delete(p); });
        inflight.add(p);
      }
    }, TICK_MS);
  });
  const secs = (performance.now() - t0) / 1000;
  await Promise.all([...inflight]);
  return { issued, answered, errors, refused, secs, lat };
}

process.on('message', async (m) => {
  try {
    if (m.cmd === 'connect') {
      await connect(m);
      process.send({ ok: true });
    } else if (m.cmd === 'offer') {
      process.send({ ok: true, ...(await offer(m)) });
    } else if (m.cmd === 'close') {
      await Promise.all(Object.values(sets).flat().map((c) => c.client.close({ force: true })));
      process.send({ ok: true });
      process.exit(0);
    }
  } catch (e) {
    process.send({ ok: false, error: String(e && e.stack || e) });
  }
});
