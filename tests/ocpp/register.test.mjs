// register.test.mjs: open registration of chargers (ocpp_gateway.open_registration
// with Central's central.registration: open): a charger Central does not
// know joins with its Basic password (trust on first use), the id is then
// its own (another password is refused), and a gateway left at the default
// registers nobody. ocpp-rpc (strict) is the charger; over ZeroMQ.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { freePort, waitFor } from '../web/lib/system.mjs';
import { bootAccepted, ocppCharger, startGateway, startSystem } from './modules.mjs';

let sys, admin, openPort, closedPort;

before(async () => {
  ({ sys, admin } = await startSystem({ registration: 'open' }));
  openPort = await freePort();
  closedPort = await freePort();
  await startGateway(sys, 'gateway-open', `  host: 127.0.0.1\n  port: ${openPort}\n` +
    '  open_registration: true\n  state_file: ""\n');
  await startGateway(sys, 'gateway-closed', `  host: 127.0.0.1\n  port: ${closedPort}\n` +
    '  state_file: ""\n');
});

after(async () => {
  if (process.exitCode)
    sys?.dump();
  await sys?.stop();
});

/** 'Accepted', or how the charger was turned away ('Rejected' or 'closed'). */
async function tryBoot(port, id, password) {
  const cli = ocppCharger(port, id, { password });
  let closed = false;
  cli.once('close', () => { closed = true; });
  try {
    await cli.connect();
  } catch {
    return 'closed';
  }
  const verdict = await waitFor(async () => {
    if (closed)
      return 'closed';
    const r = await cli.call('BootNotification', { chargePointVendor: 'EVC', chargePointModel: 'reg' })
      .catch(() => ({ status: 'closed' }));
    return r.status === 'Pending' ? false : r.status;
  }, { timeout: 20000, interval: 200, what: `${id}: a verdict on its BootNotification` });
  if (verdict === 'Accepted')
    await cli.close();
  return verdict;
}

async function cp(id) {
  return (await sys.cpsById(admin))[id];
}

test('an unknown charger joins with its password; the id is then its own', async () => {
  assert.equal(await cp('CP_NEW1'), undefined, 'not known to Central before');
  const cli = ocppCharger(openPort, 'CP_NEW1', { password: 'first-password-of-new1' });
  await cli.connect();
  await bootAccepted(cli);
  await waitFor(async () => (await cp('CP_NEW1'))?.state === 'ACTIVATED',
    { timeout: 15000, interval: 100, what: 'CP_NEW1 ACTIVATED at Central' });
  // Stored as a hash, never the password.
  const row = sys.sql("SELECT secret_hash FROM charging_points WHERE id = 'CP_NEW1'")[0];
  assert.match(row.secret_hash, /^\$argon2id\$/);
  assert.ok(!row.secret_hash.includes('first-password-of-new1'));
  await cli.close();
  await waitFor(async () => (await cp('CP_NEW1'))?.state === 'DISCONNECTED',
    { timeout: 15000, interval: 100, what: 'CP_NEW1 DISCONNECTED' });
  // Trust on first use: another password for the id is refused...
  assert.notEqual(await tryBoot(openPort, 'CP_NEW1', 'someone-elses-password'), 'Accepted');
  // ... and the first one still works.
  assert.equal(await tryBoot(openPort, 'CP_NEW1', 'first-password-of-new1'), 'Accepted');
});

test('a gateway without open_registration registers nobody', async () => {
  assert.notEqual(await tryBoot(closedPort, 'CP_NEW2', 'a-password-for-new2'), 'Accepted');
  assert.equal(await cp('CP_NEW2'), undefined, 'registered through a gateway that does not');
});
