// attacks.test.mjs: EV_OCPP_GW against someone who knows a charger's id but
// not its secret, and against a flood of upgrades. ocpp-rpc (strict) is the
// real charger on 127.0.0.1; the attacker connects from 127.0.0.2 (the whole
// 127/8 is loopback), so "another peer" is a different address.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { SEED, freePort, waitFor } from '../web/lib/system.mjs';
import { bootAccepted, ocppCharger, startGateway, startSystem } from './modules.mjs';

let sys, admin, gwPort, gw;

function charger(id, { password = SEED.cpSecret(id), from = '127.0.0.1' } = {}) {
  return ocppCharger(gwPort, id, { password, wsOpts: { localAddress: from } });
}

/** An attacker's try: connects if the gateway lets it, waits for its close. */
async function attack(id, password) {
  const cli = charger(id, { password, from: '127.0.0.2' });
  const closed = new Promise((res) => cli.once('close', res));
  try {
    await cli.connect();
  } catch {
    return 'refused';
  }
  await closed;
  return 'closed';
}

before(async () => {
  ({ sys, admin } = await startSystem());
  gwPort = await freePort();
  gw = await startGateway(sys, 'gateway', `  host: 127.0.0.1\n  port: ${gwPort}\n  max_pending: 3\n` +
    '  state_file: ""\n');
});

after(async () => {
  if (process.exitCode)
    sys?.dump();
  await sys?.stop();
});

test("a wrong password for a connected charger's id does not take its connection", async () => {
  const real = charger('CP_001');
  let realClosed = false;
  real.once('close', () => { realClosed = true; });
  await real.connect();
  await bootAccepted(real);
  assert.equal(await attack('CP_001', 'not-the-secret'), 'closed');
  await gw.waitOutput('cp=CP_001: denied (by Central)');
  // The real charger is still connected and answered.
  const hb = await real.call('Heartbeat', {});
  assert.match(hb.currentTime, /^\d{4}-/);
  assert.equal(realClosed, false, 'the real charger was disconnected by a wrong password');
  assert.equal((await sys.cpsById(admin)).CP_001?.state, 'ACTIVATED');
  await real.close();
});

test("wrong passwords from another peer do not lock the real charger out", async () => {
  // Enough tries to trip the per-CP throttle (3 denials).
  for (let i = 0; i < 4; i++)
    await attack('CP_002', `wrong-${i}`);
  const real = charger('CP_002');
  await real.connect();
  await bootAccepted(real);
  await waitFor(async () => sys.check() || (await sys.cpsById(admin)).CP_002?.state === 'ACTIVATED',
    { timeout: 15000, interval: 100, what: 'CP_002 ACTIVATED' });
  await real.close();
});

test('connections waiting for Central are bounded (max_pending), then served', async () => {
  // Central stopped (SIGSTOP): no password is decided, every new connection
  // waits. The gateway holds at most max_pending (3) of them.
  const central = sys.procs.find((p) => p.name === 'central');
  const waiting = ['CP_003', 'CP_004', 'CP_005'].map((id) => charger(id));
  process.kill(central.pid, 'SIGSTOP');
  try {
    for (const c of waiting)
      await c.connect();
    await assert.rejects(charger('CP_001').connect());
    await gw.waitOutput('(ocpp_gateway.max_pending)');
  } finally {
    process.kill(central.pid, 'SIGCONT');
  }
  // Decided once Central answers: the waiting chargers are accepted.
  for (const c of waiting)
    await bootAccepted(c);
  for (const c of waiting)
    await c.close();
});
