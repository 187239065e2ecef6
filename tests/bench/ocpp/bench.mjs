// bench.mjs: EV_OCPP_GW under N chargers, against an ocpp-rpc RPCServer on the
// same machine in the same run (docs/OCPP.md "Load").
//
//   node tests/bench/ocpp/bench.mjs [N=1000] [SECONDS=20]    (from the build dir)
//
// N ocpp-rpc clients (not strict: the generator's own cost is the same for
// both servers) connect at once and boot; then each loops Heartbeat and
// MeterValues, one call outstanding per client (as OCPP requires), for
// SECONDS. Reported per server: calls/s, p50 and p99 latency; and the ratio.
// The gateway's CPs are real: registered at Central (POST /api/cps, which
// draws each secret), proved over monitor links, sealed on the ZeroMQ bus.
// The RPCServer answers from memory. Both share the machine's 2 cores with
// the generator (and the gateway with Central and the bus): the ratio is of
// this machine, not of the servers alone.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

import { BUILD_DIR, Proc, SEED, System, freePort, waitFor } from '../../web/lib/system.mjs';

const N = Number(process.argv[2] || 1000);
const SECONDS = Number(process.argv[3] || 20);
const req = createRequire(path.join(path.resolve(process.env.EVC_OCPP_NODE_MODULES ||
  path.join(BUILD_DIR, 'ocpp-npm', 'node_modules')), 'noop.js'));
const { RPCClient } = req('ocpp-rpc');

const BOOT = { chargePointVendor: 'Bench', chargePointModel: 'B1' };
const METER = (i) => ({ connectorId: 1, meterValue: [{ timestamp: new Date().toISOString(),
  sampledValue: [{ value: String(i), measurand: 'Energy.Active.Import.Register', unit: 'Wh' }] }] });

/** CPU time (user + system) of a process so far, in ms (USER_HZ 100). */
function cpuMs(pid) {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) * 10;
}

function pct(sorted, q) {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : 0;
}

/** Connects and boots every client, then loops calls for SECONDS; returns the figures. */
async function drive(label, url, ids, secrets, pid) {
  const clients = ids.map((id, i) => new RPCClient({ endpoint: url, identity: id,
    protocols: ['ocpp1.6'], password: secrets[i], reconnect: false, callTimeoutMs: 30000 }));
  const t0 = Date.now();
  await Promise.all(clients.map((c) => c.connect()));
  await Promise.all(clients.map((c) => waitFor(async () =>
    (await c.call('BootNotification', BOOT)).status === 'Accepted',
  { timeout: 60000, interval: 500, what: `${label}: boot` })));
  const connectS = (Date.now() - t0) / 1000;
  const lat = [];
  let calls = 0, errors = 0, stop = false;
  const start = process.hrtime.bigint();
  const cpu0 = cpuMs(pid);
  const loops = clients.map(async (c, i) => {
    let n = 0;
    while (!stop) {
      const a = process.hrtime.bigint();
      try {
        if (n++ % 2)
          await c.call('MeterValues', METER(n));
        else
          await c.call('Heartbeat', {});
        lat.push(Number(process.hrtime.bigint() - a) / 1e6);
        calls++;
      } catch {
        errors++;
      }
    }
  });
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  stop = true;
  await Promise.all(loops);
  const cpu = cpuMs(pid) - cpu0;
  const secs = Number(process.hrtime.bigint() - start) / 1e9;
  await Promise.all(clients.map((c) => c.close({ force: true })));
  lat.sort((x, y) => x - y);
  const r = { label, clients: N, connect_boot_s: +connectS.toFixed(2), calls, errors,
    calls_per_s: Math.round(calls / secs), p50_ms: +pct(lat, 0.5).toFixed(2),
    p99_ms: +pct(lat, 0.99).toFixed(2), server_cpu_ms: cpu,
    server_cpu_ms_per_1000_calls: +(1000 * cpu / Math.max(1, calls)).toFixed(1) };
  console.log(JSON.stringify(r));
  return r;
}

const sys = await System.start({ heartbeatTimeoutMs: 10000 });
try {
  const login = await sys.login(SEED.admin.user, SEED.admin.password);
  const admin = { cookie: login.cookie, csrf: login.csrf };
  const ids = [], secrets = [];
  for (let i = 1; i <= N; i++) {
    const id = `OB${String(i).padStart(5, '0')}`;
    const r = await waitFor(async () => {
      const x = await sys.http('POST', '/api/cps', { session: admin,
        body: { id, location: 'bench', price_cents_per_kwh: 35 } });
      return x.status === 201 ? x : false;
    }, { timeout: 10000, interval: 5, what: `register ${id}` });
    ids.push(id);
    secrets.push(r.body.secret);
  }
  // Central caps its monitor links at the CPs it had at start + 512
  // (central.monitor_max_links 0): restarted, it counts the new ones.
  await sys.central.stop();
  await sys.startCentral();
  const port = await freePort();
  const cfg = sys.writeConfig('gateway', `ocpp_gateway:\n  host: 127.0.0.1\n  port: ${port}\n` +
    `  state_file: "${path.join(sys.dir, 'gw-state.json')}"\n`);
  const gw = new Proc(sys, 'gateway', [sys.bin('EV_OCPP_GW'), '--config', cfg, '--log-level', 'warn',
    `127.0.0.1:${sys.centralPort}`]);
  await gw.waitOutput('EV_OCPP_GW listening on port');
  const a = await drive('EV_OCPP_GW', `ws://127.0.0.1:${port}/ocpp`, ids, secrets, gw.pid);
  await gw.stop();

  // The RPCServer in a process of its own, so that its CPU can be read
  // apart from the generator's; strict mode, as the gateway validates too.
  const rport = await freePort();
  const script = path.join(sys.dir, 'rpcserver.cjs');
  fs.writeFileSync(script, `
    const { RPCServer } = require(${JSON.stringify(req.resolve('ocpp-rpc'))});
    const server = new RPCServer({ protocols: ['ocpp1.6'], strictMode: true });
    server.auth((accept) => accept());
    server.on('client', (client) => {
      client.handle('BootNotification', () => ({ status: 'Accepted',
        currentTime: new Date().toISOString(), interval: 60 }));
      client.handle('Heartbeat', () => ({ currentTime: new Date().toISOString() }));
      client.handle('MeterValues', () => ({}));
    });
    server.listen(${rport}, '127.0.0.1').then(() => console.log('RPCServer listening'));
  `);
  const rs = new Proc(sys, 'rpcserver', [process.execPath, script]);
  await rs.waitOutput('RPCServer listening');
  const b = await drive('ocpp-rpc RPCServer', `ws://127.0.0.1:${rport}/ocpp`, ids, secrets, rs.pid);
  await rs.stop();
  const ratio = { calls_per_s_ratio: +(a.calls_per_s / b.calls_per_s).toFixed(2),
    cpu_per_call_ratio: +(b.server_cpu_ms_per_1000_calls /
      Math.max(0.1, a.server_cpu_ms_per_1000_calls)).toFixed(2) };
  console.log(JSON.stringify(ratio));
  const out = process.env.EVC_OCPP_BENCH_JSON;
  if (out)
    fs.writeFileSync(out, JSON.stringify({ gateway: a, rpcserver: b, ...ratio }, null, 1));
} finally {
  await sys.stop();
}
