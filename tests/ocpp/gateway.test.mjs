// gateway.test.mjs: EV_OCPP_GW against a real system (Central, the bus, a
// driver; tests/web/lib/system.mjs) with the third-party OCPP client
// ocpp-rpc (strict mode: it validates every message it sends and receives
// against the official OCPP 1.6 schemas) as the charger.
//
// EVC_OCPP_BUS=kafka runs the same over the Kafka mock cluster.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { SEED, freePort, waitFor } from '../web/lib/system.mjs';
import { bootAccepted, ocppCharger, startGateway as startGatewayOn, startSystem } from './modules.mjs';

const BUS = process.env.EVC_OCPP_BUS || 'zmq';
let sys, gw, gwPort, admin;
let gwStarts = 0;

function charger(id, { password = SEED.cpSecret(id) } = {}) {
  return ocppCharger(gwPort, id, { password });
}

const boot = (cli) => bootAccepted(cli);

async function cpState(id) {
  return (await sys.cpsById(admin))[id]?.state;
}

async function waitCpState(id, state, timeout = 15000) {
  return waitFor(async () => sys.check() || (await cpState(id)) === state,
    { timeout, interval: 100, what: `${id} ${state} at Central` });
}

async function startGateway() {
  gw = await startGatewayOn(sys, `gateway${gwStarts++ || ''}`, `  host: 127.0.0.1\n` +
    `  port: ${gwPort}\n  call_timeout_ms: 5000\n` +
    `  state_file: "${path.join(sys.dir, 'gateway-state.json')}"\n`);
}

before(async () => {
  ({ sys, admin } = await startSystem({ bus: BUS === 'kafka' ? 'kafka' : undefined }));
  gwPort = await freePort();
  await startGateway();
});

after(async () => {
  if (process.exitCode)
    sys?.dump();
  await sys?.stop();
});

test('boot accepted: the charger is ACTIVATED at Central; Heartbeat answered', async () => {
  const cli = charger('CP_001');
  await cli.connect();
  assert.equal(cli.protocol, 'ocpp1.6');
  const r = await boot(cli);
  assert.ok(r.interval > 0);
  await waitCpState('CP_001', 'ACTIVATED');
  const hb = await cli.call('Heartbeat', {});
  assert.ok(!Number.isNaN(Date.parse(hb.currentTime)));
  await cli.close();
});

test('a wrong Basic password is refused and the CP is not activated', async () => {
  const before = await cpState('CP_002');
  const cli = charger('CP_002', { password: 'not-the-secret' });
  const closed = new Promise((res) => cli.once('close', res));
  await cli.connect();
  // Central denies the proof: BootNotification is never accepted and the
  // gateway closes the connection with 1008.
  // (libwebsockets 4.1 drops the close frame when closing from a writable
  // callback: the client may see 1006 instead of 1008.)
  const ev = await closed;
  assert.ok([1006, 1008].includes(ev.code), `close code ${ev.code}`);
  assert.equal(await cpState('CP_002'), before);
  assert.notEqual(before, 'ACTIVATED');
  // Each try costs the gateway an argon2id derivation: after 3 denials the
  // CP id waits (1 s, doubling), refused at the upgrade -- the right password too.
  let refusedAt = 0;
  for (let i = 2; i <= 5 && !refusedAt; i++) {
    const c = charger('CP_002', { password: `wrong-${i}` });
    const gone = new Promise((res) => c.once('close', res));
    try {
      await c.connect();
      await gone;
    } catch {
      refusedAt = i;
    }
  }
  assert.equal(refusedAt, 4, 'the fourth try is refused before Central is asked');
  await assert.rejects(charger('CP_002').connect());
  // No Basic auth at all: refused at the upgrade.
  const anon = ocppCharger(gwPort, 'CP_002');
  await assert.rejects(anon.connect());
});

test('a CALL before boot is refused; malformed frames get CALLERROR', async () => {
  const cli = charger('CP_003');
  await cli.connect();
  await assert.rejects(cli.call('Heartbeat', {}), (e) => e.rpcErrorCode === 'SecurityError');
  const errors = [];
  cli.on('message', ({ message, outbound }) => {
    if (!outbound) {
      const m = JSON.parse(String(message));
      if (m[0] === 4)
        errors.push(m);
    }
  });
  cli.sendRaw('this is not json');
  cli.sendRaw('[2,"m1","BootNotification"]');
  cli.sendRaw('[2,"m2","BootNotification",{"chargePointVendor":5,"chargePointModel":"x"}]');
  cli.sendRaw('[2,"m3","BootNotification",{"chargePointModel":"x"}]');
  cli.sendRaw('[2,"m4","BootNotification",{"chargePointVendor":"v","chargePointModel":"x",' +
    '"chargeBoxSerialNumber":"' + 'x'.repeat(30) + '"}]');
  cli.sendRaw('[2,"m5","NoSuchAction",{}]');
  cli.sendRaw('[7,"m6",{}]');
  await waitFor(() => errors.length >= 7, { what: 'seven CALLERRORs', timeout: 5000 });
  const code = Object.fromEntries(errors.map((e) => [e[1], e[2]]));
  assert.equal(code['-1'], 'FormationViolation');
  assert.equal(code.m1, 'FormationViolation');
  assert.equal(code.m2, 'TypeConstraintViolation');
  assert.equal(code.m3, 'OccurenceConstraintViolation');
  assert.equal(code.m4, 'PropertyConstraintViolation');
  assert.equal(code.m5, 'NotImplemented');
  assert.equal(code.m6, 'ProtocolError');
  await cli.close();
});

test('Faulted -> BROKEN, Available -> ACTIVATED, WebSocket closed -> DISCONNECTED', async () => {
  const cli = charger('CP_004');
  await cli.connect();
  await boot(cli);
  await waitCpState('CP_004', 'ACTIVATED');
  const status = (s, e = 'NoError') => cli.call('StatusNotification',
    { connectorId: 1, status: s, errorCode: e });
  await status('Faulted', 'GroundFailure');
  await waitCpState('CP_004', 'BROKEN');
  await status('Available');
  await waitCpState('CP_004', 'ACTIVATED');
  const dt = await cli.call('DataTransfer', { vendorId: 'acme' });
  assert.equal(dt.status, 'UnknownVendorId');
  await cli.close();
  await waitCpState('CP_004', 'DISCONNECTED');
});

test('a driver request: RemoteStart, Start/MeterValues/Stop, billed once', async () => {
  const id = 'CP_005';
  const cli = charger(id);
  let remoteStart = null;
  cli.handle('RemoteStartTransaction', ({ params }) => {
    remoteStart = params;
    return { status: 'Accepted' };
  });
  await cli.connect();
  await boot(cli);
  await cli.call('StatusNotification', { connectorId: 1, status: 'Available', errorCode: 'NoError' });
  await waitCpState(id, 'ACTIVATED');
  // The engine side needs its cp.hello heard before a request: a moment.
  const driver = sys.startDriver('driver1', [id]);
  await waitFor(() => remoteStart, { timeout: 20000, what: 'RemoteStartTransaction' });
  const startedAt = Date.now();
  assert.equal(remoteStart.idTag, 'driver1');
  const auth = await cli.call('Authorize', { idTag: 'driver1' });
  assert.equal(auth.idTagInfo.status, 'Accepted');
  const meterStart = 1000;
  const st = await cli.call('StartTransaction', { connectorId: 1, idTag: 'driver1', meterStart,
    timestamp: new Date().toISOString() });
  assert.equal(st.idTagInfo.status, 'Accepted');
  await waitCpState(id, 'SUPPLYING');
  const tx = st.transactionId;
  // Central refuses energy a CP could not have delivered since the request
  // (its rated power x the time, docs/PROTOCOL.md M5): 10 Wh needs 0.25 s at
  // CP_005's 150 kW, so the meter readings wait for a second of supply.
  await waitFor(() => Date.now() - startedAt >= 1000, { what: 'a second of supply' });
  await cli.call('MeterValues', { connectorId: 1, transactionId: tx, meterValue: [{
    timestamp: new Date().toISOString(),
    sampledValue: [{ value: '1005', measurand: 'Energy.Active.Import.Register', unit: 'Wh' },
      { value: '7.4', measurand: 'Power.Active.Import', unit: 'kW' }] }] });
  await cli.call('StopTransaction', { transactionId: tx, meterStop: 1010,
    timestamp: new Date().toISOString(), reason: 'EVDisconnected' });
  const tickets = await waitFor(() => {
    const t = sys.sql(`SELECT * FROM tickets WHERE cp_id = '${id}'`);
    return t.length ? t : false;
  }, { timeout: 15000, what: 'the ticket' });
  assert.equal(tickets.length, 1);
  assert.equal(tickets[0].driver_id, 'driver1');
  assert.equal(tickets[0].energy_wh, 10); // meterStop - meterStart
  const price = tickets[0].price_cents_per_kwh;
  assert.equal(tickets[0].amount_cents, Math.floor((10 * price + 500) / 1000));
  // Billed once: a repeated StopTransaction changes nothing.
  await cli.call('StopTransaction', { transactionId: tx, meterStop: 1010,
    timestamp: new Date().toISOString() });
  await driver.waitOutput('Ticket ', { timeout: 15000 });
  assert.equal(sys.sql(`SELECT count(*) AS n FROM tickets WHERE cp_id = '${id}'`)[0].n, 1);
  await cli.close();
});

test('Central stop during a supply: RemoteStop then ChangeAvailability; resume: Operative', async () => {
  const id = 'CP_006';
  const cli = charger(id);
  const calls = [];
  let remoteStart = null;
  cli.handle('RemoteStartTransaction', ({ params }) => {
    remoteStart = params;
    return { status: 'Accepted' };
  });
  cli.handle('RemoteStopTransaction', ({ params }) => {
    calls.push(['RemoteStopTransaction', params]);
    return { status: 'Accepted' };
  });
  cli.handle('ChangeAvailability', ({ params }) => {
    calls.push(['ChangeAvailability', params]);
    return { status: 'Accepted' };
  });
  await cli.connect();
  await boot(cli);
  await waitCpState(id, 'ACTIVATED');
  sys.startDriver('driver2', [id]);
  await waitFor(() => remoteStart, { timeout: 20000, what: 'RemoteStartTransaction' });
  const st = await cli.call('StartTransaction', { connectorId: 1, idTag: 'driver2',
    meterStart: 0, timestamp: new Date().toISOString() });
  await waitCpState(id, 'SUPPLYING');
  const r = await sys.http('POST', `/api/cps/${id}/stop`, { session: admin });
  assert.equal(r.status, 200, r.text);
  await waitFor(() => calls.length >= 2, { what: 'RemoteStop and ChangeAvailability' });
  assert.deepEqual(calls[0], ['RemoteStopTransaction', { transactionId: st.transactionId }]);
  assert.deepEqual(calls[1], ['ChangeAvailability', { connectorId: 0, type: 'Inoperative' }]);
  // The charger ends the transaction it was told to stop: billed "stopped".
  await cli.call('StopTransaction', { transactionId: st.transactionId, meterStop: 0,
    timestamp: new Date().toISOString(), reason: 'Remote' });
  const t = await waitFor(() => {
    const rows = sys.sql(`SELECT end_reason, energy_wh FROM tickets WHERE cp_id = '${id}'`);
    return rows.length ? rows : false;
  }, { timeout: 15000, what: 'the ticket' });
  assert.deepEqual(t, [{ end_reason: 'stopped', energy_wh: 0 }]);
  await waitCpState(id, 'STOPPED');
  const r2 = await sys.http('POST', `/api/cps/${id}/resume`, { session: admin });
  assert.equal(r2.status, 200, r2.text);
  await waitFor(() => calls.length >= 3, { what: 'ChangeAvailability Operative' });
  assert.deepEqual(calls[2], ['ChangeAvailability', { connectorId: 0, type: 'Operative' }]);
  await waitCpState(id, 'ACTIVATED');
  await cli.close();
});

/** A CP registered now at Central (its secret drawn there); resolves the secret. */
async function registerCp(id) {
  const r = await sys.http('POST', '/api/cps', { session: admin,
    body: { id, location: 'reset tests', price_cents_per_kwh: 35 } });
  assert.equal(r.status, 201, r.text);
  return r.body.secret;
}

/** ACTIVATED at Central with its engine (the gateway) heard on the bus: a reset can reach it. */
async function waitResettable(id) {
  return waitFor(async () => {
    const cp = sys.check() || (await sys.cpsById(admin))[id];
    return cp?.state === 'ACTIVATED' && cp.engine_on_bus;
  }, { timeout: 15000, interval: 100, what: `${id} ACTIVATED with its engine on the bus` });
}

test('operator Reset without a transaction: Reset Hard reaches the charger; 409 when gone', async () => {
  const id = 'CP_R01';
  const password = await registerCp(id);
  const resets = [];
  const cli = charger(id, { password });
  cli.handle('Reset', ({ params }) => {
    resets.push(params);
    return { status: 'Accepted' };
  });
  await cli.connect();
  await boot(cli);
  await waitResettable(id);
  const r = await sys.http('POST', `/api/cps/${id}/reset`, { session: admin, body: { type: 'Hard' } });
  assert.equal(r.status, 202, r.text);
  assert.deepEqual(r.body, { cp_id: id, type: 'Hard', sent: true });
  await waitFor(() => resets.length, { what: 'Reset at the charger' });
  assert.deepEqual(resets, [{ type: 'Hard' }]);
  // The charger reboots: a new connection, booted again; nothing was billed.
  await cli.close();
  await waitCpState(id, 'DISCONNECTED');
  const gone = await sys.http('POST', `/api/cps/${id}/reset`, { session: admin });
  assert.equal(gone.status, 409, gone.text);
  const again = charger(id, { password });
  await again.connect();
  await boot(again);
  await waitCpState(id, 'ACTIVATED');
  assert.equal(sys.sql(`SELECT count(*) AS n FROM tickets WHERE cp_id = '${id}'`)[0].n, 0);
  assert.equal((await sys.cpsById(admin))[id].admin_state, 'IN_SERVICE');
  await again.close();
});

test('operator Reset during a transaction: Reset Soft, the StopTransaction billed once (reset)', async () => {
  const id = 'CP_R02'; // 22 kW (a registered CP's default): 4 Wh need 0.7 s (M5 bound)
  const password = await registerCp(id);
  const { cli, tx, t0, driver } = await startSupply(id, 'driver2', { password });
  const resets = [];
  cli.handle('Reset', ({ params }) => {
    resets.push(params);
    return { status: 'Accepted' };
  });
  await waitFor(() => Date.now() - t0 >= 1000, { what: 'a second of supply (M5 bound)' });
  // No body: Soft, the default.
  const r = await sys.http('POST', `/api/cps/${id}/reset`, { session: admin });
  assert.equal(r.status, 202, r.text);
  await waitFor(() => resets.length, { what: 'Reset at the charger' });
  assert.deepEqual(resets, [{ type: 'Soft' }]);
  // A soft reset: the charger ends its transaction, then reboots.
  await cli.call('StopTransaction', { transactionId: tx, meterStop: 504,
    timestamp: new Date().toISOString(), reason: 'SoftReset' });
  await cli.close();
  const t = await waitFor(() => {
    const rows = sys.sql(`SELECT driver_id, energy_wh, end_reason FROM tickets WHERE cp_id = '${id}'`);
    return rows.length ? rows : false;
  }, { timeout: 15000, what: 'the ticket' });
  assert.deepEqual(t, [{ driver_id: 'driver2', energy_wh: 4, end_reason: 'reset' }]);
  await driver.waitOutput('Ticket ', { timeout: 15000 });
  // Back after its reboot: free again, and the same transaction is not billed twice.
  const again = charger(id, { password });
  await again.connect();
  await boot(again);
  await waitCpState(id, 'ACTIVATED');
  await again.call('StopTransaction', { transactionId: tx, meterStop: 504,
    timestamp: new Date().toISOString(), reason: 'SoftReset' });
  await waitFor(() => gw.output().includes(`StopTransaction of unknown transaction ${tx}`),
    { what: 'the repeated StopTransaction matched to nothing' });
  assert.equal(sys.sql(`SELECT count(*) AS n FROM tickets WHERE cp_id = '${id}'`)[0].n, 1);
  await again.close();
});

test('a StartTransaction nobody authorised (an offline start): Central decides, billed once', async () => {
  const id = 'CP_R04'; // 22 kW: 4 Wh need 0.7 s (M5 bound, from the request)
  const password = await registerCp(id);
  const cli = charger(id, { password });
  await cli.connect();
  await boot(cli);
  await waitCpState(id, 'ACTIVATED');
  const startedOffline = new Date(Date.now() - 60000).toISOString();
  // An idTag Central does not know: no supply; Invalid after call_timeout_ms (5 s).
  const bad = await cli.call('StartTransaction', { connectorId: 1, idTag: 'nobody',
    meterStart: 100, timestamp: startedOffline });
  assert.equal(bad.idTagInfo.status, 'Invalid');
  assert.equal(await cpState(id), 'ACTIVATED');
  // A driver's idTag without any Authorize: the gateway asks Central, which authorises.
  const t0 = Date.now();
  const st = await cli.call('StartTransaction', { connectorId: 1, idTag: 'driver2',
    meterStart: 100, timestamp: startedOffline });
  assert.equal(st.idTagInfo.status, 'Accepted');
  assert.notEqual(st.transactionId, bad.transactionId);
  await waitCpState(id, 'SUPPLYING');
  // The same start repeated (a charger whose answer was lost): the same transaction.
  const again = await cli.call('StartTransaction', { connectorId: 1, idTag: 'driver2',
    meterStart: 100, timestamp: startedOffline });
  assert.deepEqual(again, st);
  await waitFor(() => Date.now() - t0 >= 1000, { what: 'a second of supply (M5 bound)' });
  await cli.call('StopTransaction', { transactionId: st.transactionId, meterStop: 104,
    timestamp: new Date().toISOString(), reason: 'Local' });
  const t = await waitFor(() => {
    const rows = sys.sql(`SELECT driver_id, energy_wh, end_reason FROM tickets WHERE cp_id = '${id}'`);
    return rows.length ? rows : false;
  }, { timeout: 15000, what: 'the ticket' });
  assert.deepEqual(t, [{ driver_id: 'driver2', energy_wh: 4, end_reason: 'unplugged' }]);
  // The refused one never became a supply: its StopTransaction bills nothing.
  await cli.call('StopTransaction', { transactionId: bad.transactionId, meterStop: 150,
    timestamp: new Date().toISOString(), reason: 'DeAuthorized' });
  await waitFor(() => gw.output().includes(`StopTransaction of unknown transaction ${bad.transactionId}`),
    { what: 'the refused transaction matched to nothing' });
  assert.deepEqual(sys.sql(`SELECT driver_id, state FROM sessions WHERE cp_id = '${id}' AND ` +
    `state <> 'denied'`), [{ driver_id: 'driver2', state: 'ended' }]);
  assert.equal(sys.sql(`SELECT count(*) AS n FROM tickets WHERE cp_id = '${id}'`)[0].n, 1);
  await waitCpState(id, 'ACTIVATED');
  await cli.close();
});

test('ChangeAvailability answered Scheduled during a supply, then forgotten: asked again once', async () => {
  const id = 'CP_R05';
  const password = await registerCp(id);
  const { cli, tx } = await startSupply(id, 'driver1', { password });
  const avail = [];
  let answer = 'Scheduled'; // busy: OCPP 1.6 has the charger apply it when the transaction ends
  cli.handle('RemoteStopTransaction', () => ({ status: 'Accepted' }));
  cli.handle('ChangeAvailability', ({ params }) => {
    avail.push(params);
    return { status: answer };
  });
  const status = (s) => cli.call('StatusNotification', { connectorId: 1, status: s, errorCode: 'NoError' });
  // Read after a round trip: a ChangeAvailability a status calls for is sent before its answer.
  const availAfterRoundTrip = async () => (await cli.call('Heartbeat', {})) && avail.length;
  const r = await sys.http('POST', `/api/cps/${id}/stop`, { session: admin });
  assert.equal(r.status, 200, r.text);
  await waitFor(() => avail.length, { what: 'ChangeAvailability' });
  assert.deepEqual(avail, [{ connectorId: 0, type: 'Inoperative' }]);
  answer = 'Accepted';
  await cli.call('StopTransaction', { transactionId: tx, meterStop: 500, timestamp: new Date().toISOString(),
    reason: 'Remote' });
  await status('Available'); // it forgot the scheduled change: Central has the CP STOPPED
  assert.equal(await availAfterRoundTrip(), 2);
  assert.deepEqual(avail[1], { connectorId: 0, type: 'Inoperative' });
  await status('Available'); // no status change: not asked again
  await status('Unavailable');
  assert.equal(await availAfterRoundTrip(), 2);
  await waitCpState(id, 'STOPPED');
  // STOPPED at Central can come before the end is billed (over Kafka the end is another message).
  const t = await waitFor(() => {
    const rows = sys.sql(`SELECT end_reason FROM tickets WHERE cp_id = '${id}'`);
    return rows.length ? rows : false;
  }, { timeout: 15000, what: 'the ticket' });
  assert.deepEqual(t, [{ end_reason: 'stopped' }]);
  await cli.close();
});

test('a charger back while Central has its CP STOPPED is made Inoperative; resumed meanwhile: Operative', async () => {
  const id = 'CP_R06';
  const password = await registerCp(id);
  const avail = [];
  const connect = async () => {
    const cli = charger(id, { password });
    cli.handle('ChangeAvailability', ({ params }) => {
      avail.push(params);
      return { status: 'Accepted' };
    });
    await cli.connect();
    await boot(cli);
    return cli;
  };
  const status = (cli, s) => cli.call('StatusNotification', { connectorId: 1, status: s, errorCode: 'NoError' });
  // Read after a round trip: a ChangeAvailability a status calls for is sent before its answer.
  const availAfterRoundTrip = async (cli) => (await cli.call('Heartbeat', {})) && avail.length;
  let cli = await connect();
  await status(cli, 'Available');
  await waitCpState(id, 'ACTIVATED');
  assert.equal(await availAfterRoundTrip(cli), 0, 'in line with Central: nothing asked');
  await cli.close();
  await waitCpState(id, 'DISCONNECTED');
  // Stopped while the charger is away: the command cannot reach it. (Central
  // may also repeat its command when it reads an older cp.status of the CP
  // late: then the charger may be asked twice; what counts is that every call
  // of a phase carries Central's order, that the last does, and that they
  // stop -- at most a few, not one per report.)
  const r = await sys.http('POST', `/api/cps/${id}/stop`, { session: admin });
  assert.equal(r.status, 200, r.text);
  cli = await connect(); // it rebooted meanwhile and offers itself again
  await status(cli, 'Available');
  await waitFor(() => avail.length >= 1, { what: 'ChangeAvailability Inoperative' });
  assert.deepEqual(avail.at(-1), { connectorId: 0, type: 'Inoperative' });
  await status(cli, 'Unavailable');
  await status(cli, 'Unavailable');
  await availAfterRoundTrip(cli);
  assert.ok(avail.length <= 3, `asked ${avail.length} times: ${JSON.stringify(avail)}`);
  assert.ok(avail.every((a) => a.type === 'Inoperative'), JSON.stringify(avail));
  await waitCpState(id, 'STOPPED');
  await cli.close();
  await waitCpState(id, 'DISCONNECTED');
  const n1 = avail.length; // the stopped phase's calls, all made on its connection
  // Resumed while away; back Unavailable (its last order): made Operative.
  const r2 = await sys.http('POST', `/api/cps/${id}/resume`, { session: admin });
  assert.equal(r2.status, 200, r2.text);
  cli = await connect();
  await status(cli, 'Unavailable');
  await waitFor(() => avail.length > n1, { what: 'ChangeAvailability Operative' });
  assert.deepEqual(avail.at(-1), { connectorId: 0, type: 'Operative' });
  await status(cli, 'Available');
  await waitCpState(id, 'ACTIVATED');
  await status(cli, 'Available');
  await availAfterRoundTrip(cli);
  assert.ok(avail.length - n1 <= 3, `asked ${avail.length - n1} times: ${JSON.stringify(avail)}`);
  assert.ok(avail.slice(n1).every((a) => a.type === 'Operative'), JSON.stringify(avail));
  await cli.close();
});

test('the charger rejects RemoteStartTransaction: the request is denied, nothing billed', async () => {
  const id = 'CP_007';
  const cli = charger(id);
  let asked = 0;
  cli.handle('RemoteStartTransaction', () => {
    asked++;
    return { status: 'Rejected' };
  });
  await cli.connect();
  await boot(cli);
  await waitCpState(id, 'ACTIVATED');
  sys.startDriver('driver1', [id]);
  const s = await waitFor(() => {
    const rows = sys.sql(`SELECT state FROM sessions WHERE cp_id = '${id}'`);
    return rows.length && rows[0].state === 'denied' ? rows : false;
  }, { timeout: 20000, what: 'the session denied' });
  assert.equal(s.length, 1);
  assert.equal(asked, 1);
  assert.equal(sys.sql(`SELECT count(*) AS n FROM tickets WHERE cp_id = '${id}'`)[0].n, 0);
  assert.equal(await cpState(id), 'ACTIVATED');
  await cli.close();
});

/** A supply at `id` for `driver` up to the charger's StartTransaction; resolves {cli, tx, t0, driver}. */
async function startSupply(id, driver, { password } = {}) {
  const cli = charger(id, password ? { password } : {});
  let remoteStart = null;
  cli.handle('RemoteStartTransaction', ({ params }) => {
    remoteStart = params;
    return { status: 'Accepted' };
  });
  await cli.connect();
  await boot(cli);
  await waitCpState(id, 'ACTIVATED');
  const proc = sys.startDriver(driver, [id]);
  await waitFor(() => remoteStart, { timeout: 20000, what: 'RemoteStartTransaction' });
  const t0 = Date.now();
  const st = await cli.call('StartTransaction', { connectorId: 1, idTag: driver,
    meterStart: 500, timestamp: new Date().toISOString() });
  assert.equal(st.idTagInfo.status, 'Accepted');
  await waitCpState(id, 'SUPPLYING');
  return { cli, tx: st.transactionId, t0, driver: proc };
}

/** The charger, back after a lost connection, reports the end of tx (8 Wh). */
async function stopAfterReconnect(id, tx, t0) {
  const cli = charger(id);
  await cli.connect();
  await boot(cli);
  await waitFor(() => Date.now() - t0 >= 1000, { what: 'a second of supply (M5 bound)' });
  await cli.call('StopTransaction', { transactionId: tx, meterStop: 508,
    timestamp: new Date().toISOString(), reason: 'EVDisconnected' });
  const t = await waitFor(() => {
    const rows = sys.sql(`SELECT energy_wh FROM tickets WHERE cp_id = '${id}'`);
    return rows.length ? rows : false;
  }, { timeout: 15000, what: 'the ticket' });
  assert.deepEqual(t, [{ energy_wh: 8 }]);
  await cli.close();
}

test('StopTransaction with meterStop 0: the final register comes from transactionData', async () => {
  // Some chargers send meterStop 0 and the real register only in the
  // transaction's meter values: billing reads the last energy sample there.
  const id = 'CP_010'; // 100 kW: 5 Wh need 0.2 s (Central's bound, M5)
  const { cli, tx, t0 } = await startSupply(id, 'driver1');
  await waitFor(() => Date.now() - t0 >= 1000, { what: 'a second of supply (M5 bound)' });
  const at = new Date().toISOString();
  await cli.call('StopTransaction', { transactionId: tx, meterStop: 0, timestamp: at,
    reason: 'EVDisconnected', transactionData: [
      { timestamp: at, sampledValue: [{ value: '503', context: 'Sample.Periodic' }] },
      { timestamp: at, sampledValue: [{ value: '0.505', unit: 'kWh', context: 'Transaction.End',
        measurand: 'Energy.Active.Import.Register' }] }] });
  const t = await waitFor(() => {
    const rows = sys.sql(`SELECT energy_wh FROM tickets WHERE cp_id = '${id}'`);
    return rows.length ? rows : false;
  }, { timeout: 15000, what: 'the ticket' });
  assert.deepEqual(t, [{ energy_wh: 5 }]); // 505 Wh (0.505 kWh) - meterStart 500
  await cli.close();
});

test('a charger reconnects mid-transaction: its StopTransaction is billed once', async () => {
  const { cli, tx, t0 } = await startSupply('CP_008', 'driver1');
  await cli.close();
  await waitCpState('CP_008', 'DISCONNECTED');
  await stopAfterReconnect('CP_008', tx, t0);
});

test('the gateway restarts mid-transaction: the StopTransaction after it is billed once', async () => {
  const { cli, tx, t0 } = await startSupply('CP_009', 'driver2');
  // Every supply.ended so far was acknowledged by Central (supply.end_ack),
  // chargers connected or not: none is left in the gateway's outbox.
  await waitFor(() => JSON.parse(fs.readFileSync(path.join(sys.dir, 'gateway-state.json'),
    'utf8')).ended.length === 0, { what: 'every supply.ended acknowledged' });
  await gw.stop();
  await waitFor(() => cli.state === 3 /* CLOSED */, { what: 'the charger sees the gateway go' })
    .catch(() => cli.close());
  const state = JSON.parse(fs.readFileSync(path.join(sys.dir, 'gateway-state.json'), 'utf8'));
  assert.deepEqual(state.transactions.map((t) => [t.cp_id, t.transaction_id]), [['CP_009', tx]]);
  await startGateway();
  await stopAfterReconnect('CP_009', tx, t0);
  const after = JSON.parse(fs.readFileSync(path.join(sys.dir, 'gateway-state.json'), 'utf8'));
  assert.deepEqual(after.transactions, []);
});

test('right after a gateway restart a driver request is authorised (Kafka: no group to rejoin)', async () => {
  // Over Kafka the restarted gateway used to join its consumer group first
  // (seconds; a crashed one: its dead member's session): Central's
  // cp.authorise came late and the request was denied. Direct assignment
  // (transport.kafka.assignment, docs/TRANSPORTS.md) reads on at once.
  await gw.stop();
  await startGateway();
  const { cli, tx, t0 } = await startSupply('CP_007', 'driver2');
  await waitFor(() => Date.now() - t0 >= 1000, { what: 'a second of supply (M5 bound)' });
  await cli.call('StopTransaction', { transactionId: tx, meterStop: 505,
    timestamp: new Date().toISOString(), reason: 'EVDisconnected' });
  const t = await waitFor(() => {
    const rows = sys.sql(`SELECT energy_wh FROM tickets WHERE cp_id = 'CP_007'`);
    return rows.length ? rows : false;
  }, { timeout: 15000, what: 'the ticket' });
  assert.deepEqual(t, [{ energy_wh: 5 }]);
  await cli.close();
});

test("the charger's own request: Authorize waits for Central, then Start/Stop billed", async () => {
  const id = 'CP_001'; // 22 kW: 5 Wh need 0.8 s (Central's bound, M5)
  const cli = charger(id);
  await cli.connect();
  await boot(cli);
  await waitCpState(id, 'ACTIVATED');
  // An id Central does not know: denied there, Invalid here after call_timeout_ms (5 s).
  const bad = await cli.call('Authorize', { idTag: 'nobody' });
  assert.equal(bad.idTagInfo.status, 'Invalid');
  const t0 = Date.now();
  const auth = await cli.call('Authorize', { idTag: 'driver1' });
  assert.equal(auth.idTagInfo.status, 'Accepted');
  const st = await cli.call('StartTransaction', { connectorId: 1, idTag: 'driver1',
    meterStart: 0, timestamp: new Date().toISOString() });
  assert.equal(st.idTagInfo.status, 'Accepted');
  await waitCpState(id, 'SUPPLYING');
  await waitFor(() => Date.now() - t0 >= 1000, { what: 'a second of supply (M5 bound)' });
  await cli.call('StopTransaction', { transactionId: st.transactionId, meterStop: 5,
    timestamp: new Date().toISOString(), reason: 'Local' });
  const t = await waitFor(() => {
    const rows = sys.sql(`SELECT driver_id, energy_wh, end_reason FROM tickets WHERE cp_id = '${id}'`);
    return rows.length ? rows : false;
  }, { timeout: 15000, what: 'the ticket' });
  assert.deepEqual(t, [{ driver_id: 'driver1', energy_wh: 5, end_reason: 'unplugged' }]);
  await cli.close();
});

/**
 * The window where the charger holds StopTransaction.conf (it will never
 * repeat it) and Central has not acknowledged supply.ended, made
 * deterministic by stopping Central first: a 4 Wh supply of driver1 at a new
 * CP `id` (22 kW: 4 Wh need 0.7 s, the M5 bound), ended with Central away.
 * Resolves the charger and the CP's password.
 */
async function endWithCentralAway(id) {
  const password = await registerCp(id);
  const { cli, tx, t0 } = await startSupply(id, 'driver1', { password });
  await waitFor(() => Date.now() - t0 >= 1000, { what: 'a second of supply (M5 bound)' });
  await sys.central.stop();
  const r = await cli.call('StopTransaction', { transactionId: tx, meterStop: 504,
    timestamp: new Date().toISOString(), reason: 'EVDisconnected' });
  assert.equal(r.idTagInfo.status, 'Accepted');
  return { cli, password };
}

/** Central's ticket of that supply, billed once. */
async function expectTicketOnce(id, what) {
  const t = await waitFor(() => {
    const rows = sys.sql(`SELECT driver_id, energy_wh, end_reason FROM tickets WHERE cp_id = '${id}'`);
    return rows.length ? rows : false;
  }, { timeout: 20000, what });
  assert.deepEqual(t, [{ driver_id: 'driver1', energy_wh: 4, end_reason: 'unplugged' }]);
}

test('the charger gone for good after StopTransaction, before Central acknowledged: billed once without it', async () => {
  // As below but the gateway stays up and the charger never comes back: the
  // gateway sends the end on with the CP's bus key it kept in memory.
  const id = 'CP_R07';
  const { cli } = await endWithCentralAway(id);
  await cli.close(); // and it is never seen again
  await gw.waitOutput(`cp=${id}: charger gone with a supply.ended unacknowledged`);
  await sys.startCentral();
  await expectTicketOnce(id, 'the ticket, without the charger');
  const stateFile = path.join(sys.dir, 'gateway-state.json');
  await waitFor(() => !JSON.parse(fs.readFileSync(stateFile, 'utf8')).ended.some((e) => e.cp_id === id),
    { timeout: 10000, what: 'the end acknowledged and removed from the state file' });
  assert.equal(sys.sql(`SELECT count(*) AS n FROM tickets WHERE cp_id = '${id}'`)[0].n, 1);
});

test('the gateway killed after answering StopTransaction, before Central acknowledged: billed once', async () => {
  // endWithCentralAway: the end cannot be acknowledged (over ZeroMQ it is
  // lost outright; over Kafka it waits in the topic).
  const id = 'CP_R03';
  const { cli, password } = await endWithCentralAway(id);
  // Answered, so written before: the file is the bill's only copy now.
  const stateFile = path.join(sys.dir, 'gateway-state.json');
  const kept = JSON.parse(fs.readFileSync(stateFile, 'utf8'));
  assert.deepEqual(kept.ended.map((e) => [e.cp_id, e.payload.wh, e.payload.reason]),
    [[id, 4, 'unplugged']]);
  assert.deepEqual(kept.transactions.filter((t) => t.cp_id === id), []);
  await gw.kill();
  await waitFor(() => cli.state === 3 /* CLOSED */, { what: 'the charger sees the gateway go' })
    .catch(() => cli.close());
  await sys.startCentral();
  await startGateway();
  // The charger comes back (a real one reconnects by itself): its CP is
  // keyed again and the kept end goes to Central, which bills it once.
  const again = charger(id, { password });
  await again.connect();
  await boot(again);
  await expectTicketOnce(id, 'the ticket');
  // Acknowledged: out of the file, and not billed again.
  await waitFor(() => JSON.parse(fs.readFileSync(stateFile, 'utf8')).ended.length === 0,
    { timeout: 10000, what: 'the end acknowledged and removed from the state file' });
  assert.equal(sys.sql(`SELECT count(*) AS n FROM tickets WHERE cp_id = '${id}'`)[0].n, 1);
  await again.close();
});
