// connectors.test.mjs: a two-connector charger behind EV_OCPP_GW with
// ocpp_gateway.connectors: 2 (docs/OCPP.md "Connectors"): connector 1 is the
// charger's CP (CP_005), connector 2 the CP CP_005.2, registered by the test
// at Central with the charger's secret (EV_Central --add-cp, as an operator
// does). ocpp-rpc in strict mode is the charger; over ZeroMQ.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { SEED, freePort, waitFor } from '../web/lib/system.mjs';
import { bootAccepted, ocppCharger, startGateway as startGatewayOn, startSystem } from './modules.mjs';

const ID = 'CP_005', ID2 = 'CP_005.2';
let sys, admin, gw, gwPort, cli, stateFile;
let gwStarts = 0;
const remoteStarts = [], calls = [];
// What the charger answers ChangeAvailability: a busy one says Scheduled.
let availability = 'Accepted';

async function cp(id) {
  return (await sys.cpsById(admin))[id];
}

async function waitCpState(id, state, timeout = 15000) {
  return waitFor(async () => sys.check() || (await cp(id))?.state === state,
    { timeout, interval: 100, what: `${id} ${state} at Central` });
}

/** ACTIVATED with its engine (the gateway) heard on the bus: a request can reach it. */
async function waitReady(id) {
  return waitFor(async () => {
    const c = sys.check() || await cp(id);
    return c?.state === 'ACTIVATED' && c.engine_on_bus;
  }, { timeout: 15000, interval: 100, what: `${id} ACTIVATED with its engine on the bus` });
}

async function startGateway(connectors = 2) {
  gw = await startGatewayOn(sys, `gateway${gwStarts++ || ''}`, `  host: 127.0.0.1\n` +
    `  port: ${gwPort}\n  call_timeout_ms: 5000\n  connectors: ${connectors}\n` +
    `  state_file: "${stateFile}"\n`);
}

/** The charger connected and booted, both connectors reported Available. */
async function connectCharger() {
  cli = ocppCharger(gwPort, ID, { password: SEED.cpSecret(ID) });
  cli.handle('RemoteStartTransaction', ({ params }) => {
    remoteStarts.push(params);
    return { status: 'Accepted' };
  });
  for (const action of ['RemoteStopTransaction', 'ChangeAvailability', 'Reset']) {
    cli.handle(action, ({ params }) => {
      calls.push([action, params]);
      return { status: action === 'ChangeAvailability' ? availability : 'Accepted' };
    });
  }
  await cli.connect();
  await bootAccepted(cli);
  for (const connectorId of [0, 1, 2])
    await status(connectorId, 'Available');
}

const status = (connectorId, s, errorCode = 'NoError') =>
  cli.call('StatusNotification', { connectorId, status: s, errorCode });

const tickets = (id) => sys.sql(`SELECT * FROM tickets WHERE cp_id = '${id}'`);

before(async () => {
  ({ sys, admin } = await startSystem());
  // The operator registers connector 2 with the charger's secret.
  const secretFile = path.join(sys.dir, 'cp5.secret');
  fs.writeFileSync(secretFile, `${SEED.cpSecret(ID)}\n`, { mode: 0o600 });
  const r = spawnSync(sys.bin('EV_Central'), ['--config', path.join(sys.dir, 'central.yaml'),
    '--add-cp', ID2, '--secret-file', secretFile, '--price-cents', '40', '--max-w', '150000',
    '--location', 'connector 2 of CP_005'], { encoding: 'utf8', timeout: 60000 });
  assert.equal(r.status, 0, `EV_Central --add-cp: ${r.stdout}${r.stderr}`);
  gwPort = await freePort();
  stateFile = path.join(sys.dir, 'gateway-state.json');
  await startGateway();
  await connectCharger();
});

after(async () => {
  await cli?.close({ force: true }).catch(() => {});
  if (process.exitCode)
    sys?.dump();
  await sys?.stop();
});

test('each connector is a CP at Central: CP_005 and CP_005.2 ACTIVATED', async () => {
  await waitReady(ID);
  await waitReady(ID2);
  await gw.waitOutput(`cp=${ID}: connector 2 is CP ${ID2}`);
});

test('two supplies at once on connectors 1 and 2: two tickets, each billed once', async () => {
  const d1 = sys.startDriver('driver1', [ID]);
  const d2 = sys.startDriver('driver2', [ID2]);
  await waitFor(() => remoteStarts.length >= 2, { timeout: 20000, what: 'two RemoteStartTransactions' });
  const startedAt = Date.now();
  const byTag = Object.fromEntries(remoteStarts.map((p) => [p.idTag, p]));
  assert.deepEqual(byTag.driver1, { connectorId: 1, idTag: 'driver1' });
  assert.deepEqual(byTag.driver2, { connectorId: 2, idTag: 'driver2' });
  const now = () => new Date().toISOString();
  const st1 = await cli.call('StartTransaction', { connectorId: 1, idTag: 'driver1', meterStart: 1000,
    timestamp: now() });
  const st2 = await cli.call('StartTransaction', { connectorId: 2, idTag: 'driver2', meterStart: 5000,
    timestamp: now() });
  assert.equal(st1.idTagInfo.status, 'Accepted');
  assert.equal(st2.idTagInfo.status, 'Accepted');
  assert.notEqual(st1.transactionId, st2.transactionId);
  await waitCpState(ID, 'SUPPLYING');
  await waitCpState(ID2, 'SUPPLYING');
  // Central's energy bound (max power x time since the request): a second.
  await waitFor(() => Date.now() - startedAt >= 1000, { what: 'a second of supply' });
  const mv = (connectorId, transactionId, wh) => cli.call('MeterValues', { connectorId, transactionId,
    meterValue: [{ timestamp: now(), sampledValue: [{ value: String(wh) }] }] });
  await mv(2, st2.transactionId, 5010);
  await mv(1, st1.transactionId, 1004);
  // Connector 2 ends first, connector 1 goes on supplying.
  await cli.call('StopTransaction', { transactionId: st2.transactionId, meterStop: 5020,
    timestamp: now(), reason: 'EVDisconnected' });
  await waitFor(() => tickets(ID2).length > 0, { timeout: 15000, what: `the ticket of ${ID2}` });
  assert.equal((await cp(ID)).state, 'SUPPLYING');
  assert.equal(tickets(ID).length, 0);
  await cli.call('StopTransaction', { transactionId: st1.transactionId, meterStop: 1010,
    timestamp: now(), reason: 'Local' });
  await waitFor(() => tickets(ID).length > 0, { timeout: 15000, what: `the ticket of ${ID}` });
  // Repeated StopTransactions change nothing.
  await cli.call('StopTransaction', { transactionId: st1.transactionId, meterStop: 1010, timestamp: now() });
  await cli.call('StopTransaction', { transactionId: st2.transactionId, meterStop: 5020, timestamp: now() });
  await d1.waitOutput('Ticket ', { timeout: 15000 });
  await d2.waitOutput('Ticket ', { timeout: 15000 });
  const [t1] = tickets(ID), [t2] = tickets(ID2);
  assert.equal(tickets(ID).length, 1);
  assert.equal(tickets(ID2).length, 1);
  assert.equal(t1.driver_id, 'driver1');
  assert.equal(t1.energy_wh, 10);
  assert.equal(t2.driver_id, 'driver2');
  assert.equal(t2.energy_wh, 20);
  assert.equal(t2.amount_cents, Math.floor((20 * t2.price_cents_per_kwh + 500) / 1000));
  // Every end acknowledged: the outbox in the state file is empty.
  await waitFor(() => JSON.parse(fs.readFileSync(stateFile, 'utf8')).ended.length === 0,
    { timeout: 15000, what: 'the outbox empty' });
  await waitCpState(ID, 'ACTIVATED');
  await waitCpState(ID2, 'ACTIVATED');
});

test('Faulted on connector 2: only CP_005.2 BROKEN; connector 0 Faulted: both BROKEN', async () => {
  await status(2, 'Faulted', 'GroundFailure');
  await waitCpState(ID2, 'BROKEN');
  assert.equal((await cp(ID)).state, 'ACTIVATED');
  await status(2, 'Available');
  await waitCpState(ID2, 'ACTIVATED');
  await status(1, 'Faulted', 'OverVoltage');
  await waitCpState(ID, 'BROKEN');
  assert.equal((await cp(ID2)).state, 'ACTIVATED');
  await status(1, 'Available');
  await waitCpState(ID, 'ACTIVATED');
  await status(0, 'Faulted', 'PowerMeterFailure');
  await waitCpState(ID, 'BROKEN');
  await waitCpState(ID2, 'BROKEN');
  await status(0, 'Available');
  await waitCpState(ID, 'ACTIVATED');
  await waitCpState(ID2, 'ACTIVATED');
});

test('Central stops and resumes CP_005.2: ChangeAvailability of connector 2 only', async () => {
  calls.length = 0;
  let r = await sys.http('POST', `/api/cps/${ID2}/stop`, { session: admin });
  assert.equal(r.status, 200, r.text);
  await waitFor(() => calls.length >= 1, { what: 'ChangeAvailability' });
  assert.deepEqual(calls[0], ['ChangeAvailability', { connectorId: 2, type: 'Inoperative' }]);
  await waitCpState(ID2, 'STOPPED');
  assert.equal((await cp(ID)).state, 'ACTIVATED');
  r = await sys.http('POST', `/api/cps/${ID2}/resume`, { session: admin });
  assert.equal(r.status, 200, r.text);
  await waitFor(() => calls.length >= 2, { what: 'ChangeAvailability Operative' });
  assert.deepEqual(calls[1], ['ChangeAvailability', { connectorId: 2, type: 'Operative' }]);
  await waitCpState(ID2, 'ACTIVATED');
});

test('the gateway restarts mid-transaction on connector 2: its StopTransaction billed once', async () => {
  remoteStarts.length = 0;
  const d2 = sys.startDriver('driver2', [ID2]);
  await waitFor(() => remoteStarts.length >= 1, { timeout: 20000, what: 'RemoteStartTransaction' });
  assert.deepEqual(remoteStarts[0], { connectorId: 2, idTag: 'driver2' });
  const startedAt = Date.now();
  const st = await cli.call('StartTransaction', { connectorId: 2, idTag: 'driver2', meterStart: 7000,
    timestamp: new Date().toISOString() });
  assert.equal(st.idTagInfo.status, 'Accepted');
  await waitCpState(ID2, 'SUPPLYING');
  const kept = JSON.parse(fs.readFileSync(stateFile, 'utf8')).transactions;
  assert.deepEqual(kept.map((t) => [t.cp_id, t.connector, t.transaction_id]), [[ID2, 2, st.transactionId]]);
  await gw.stop();
  await cli.close({ force: true }).catch(() => {});
  // As a gateway from before records named their connector wrote it: the
  // id alone still finds connector 2 (up to ocpp_gateway.connectors).
  const doc = JSON.parse(fs.readFileSync(stateFile, 'utf8'));
  for (const t of [...doc.transactions, ...doc.ended])
    delete t.connector;
  fs.writeFileSync(stateFile, JSON.stringify(doc));
  await startGateway();
  await connectCharger();
  await waitFor(() => Date.now() - startedAt >= 1000, { what: 'a second of supply' });
  await cli.call('StopTransaction', { transactionId: st.transactionId, meterStop: 7015,
    timestamp: new Date().toISOString(), reason: 'EVDisconnected' });
  await d2.waitOutput('Ticket ', { timeout: 20000 });
  const rows = sys.sql(`SELECT energy_wh FROM tickets WHERE cp_id = '${ID2}' ORDER BY rowid`);
  assert.deepEqual(rows.map((t) => t.energy_wh), [20, 15]);
  await waitFor(() => JSON.parse(fs.readFileSync(stateFile, 'utf8')).ended.length === 0,
    { timeout: 15000, what: 'the outbox empty' });
});

test("the charger's own Authorize, then a start on connector 2: asked of Central there", async () => {
  await waitReady(ID);
  await waitReady(ID2);
  const before1 = tickets(ID).length, before2 = tickets(ID2).length;
  // Authorize names no connector: a request at the first free one (connector 1).
  const t0 = Date.now();
  const auth = await cli.call('Authorize', { idTag: 'driver1' });
  assert.equal(auth.idTagInfo.status, 'Accepted');
  // The driver plugs into connector 2: that authorisation ends and the
  // start is asked of Central at CP_005.2.
  const st = await cli.call('StartTransaction', { connectorId: 2, idTag: 'driver1', meterStart: 0,
    timestamp: new Date().toISOString() });
  assert.equal(st.idTagInfo.status, 'Accepted');
  await waitCpState(ID2, 'SUPPLYING');
  assert.notEqual((await cp(ID)).state, 'SUPPLYING');
  await waitFor(() => Date.now() - t0 >= 1000, { what: 'a second of supply' });
  await cli.call('StopTransaction', { transactionId: st.transactionId, meterStop: 5,
    timestamp: new Date().toISOString(), reason: 'Local' });
  const t = await waitFor(() => {
    const rows = tickets(ID2).slice(before2);
    return rows.length ? rows : false;
  }, { timeout: 15000, what: `the ticket of ${ID2}` });
  assert.deepEqual(t.map((r) => [r.driver_id, r.energy_wh, r.end_reason]), [['driver1', 5, 'unplugged']]);
  // Connector 1's authorisation billed nothing.
  assert.deepEqual(tickets(ID).slice(before1).map((r) => r.energy_wh).filter((wh) => wh > 0), []);
  await waitCpState(ID, 'ACTIVATED');
});

test('Central stops CP_005.2 during two supplies: only its transaction; a reset of it resets the charger', async () => {
  await waitReady(ID);
  await waitReady(ID2);
  const before1 = tickets(ID).length, before2 = tickets(ID2).length;
  remoteStarts.length = 0;
  sys.startDriver('driver1', [ID]);
  sys.startDriver('driver2', [ID2]);
  await waitFor(() => remoteStarts.length >= 2, { timeout: 20000, what: 'two RemoteStartTransactions' });
  const now = () => new Date().toISOString();
  const st1 = await cli.call('StartTransaction', { connectorId: 1, idTag: 'driver1', meterStart: 0, timestamp: now() });
  const st2 = await cli.call('StartTransaction', { connectorId: 2, idTag: 'driver2', meterStart: 0, timestamp: now() });
  await waitCpState(ID, 'SUPPLYING');
  await waitCpState(ID2, 'SUPPLYING');
  calls.length = 0;
  let r = await sys.http('POST', `/api/cps/${ID2}/stop`, { session: admin });
  assert.equal(r.status, 200, r.text);
  await waitFor(() => calls.length >= 2, { what: 'RemoteStop and ChangeAvailability' });
  assert.deepEqual(calls.slice(0, 2), [['RemoteStopTransaction', { transactionId: st2.transactionId }],
    ['ChangeAvailability', { connectorId: 2, type: 'Inoperative' }]]);
  await cli.call('StopTransaction', { transactionId: st2.transactionId, meterStop: 0, timestamp: now(),
    reason: 'Remote' });
  await waitFor(() => tickets(ID2).length > before2, { timeout: 15000, what: `the ticket of ${ID2}` });
  assert.deepEqual(tickets(ID2).slice(before2).map((t) => [t.driver_id, t.end_reason]), [['driver2', 'stopped']]);
  await waitCpState(ID2, 'STOPPED');
  assert.equal((await cp(ID)).state, 'SUPPLYING');
  r = await sys.http('POST', `/api/cps/${ID2}/resume`, { session: admin });
  assert.equal(r.status, 200, r.text);
  await waitCpState(ID2, 'ACTIVATED');
  // OCPP resets a whole charger: a reset of CP_005.2 reaches the charger
  // once, and connector 1's transaction ends with it (billed "reset").
  calls.length = 0;
  r = await sys.http('POST', `/api/cps/${ID2}/reset`, { session: admin });
  assert.equal(r.status, 202, r.text);
  await waitFor(() => calls.some((c) => c[0] === 'Reset'), { what: 'Reset' });
  assert.deepEqual(calls.filter((c) => c[0] === 'Reset'), [['Reset', { type: 'Soft' }]]);
  await cli.call('StopTransaction', { transactionId: st1.transactionId, meterStop: 0, timestamp: now(),
    reason: 'SoftReset' });
  await waitFor(() => tickets(ID).length > before1, { timeout: 15000, what: `the ticket of ${ID}` });
  assert.deepEqual(tickets(ID).slice(before1).map((t) => [t.driver_id, t.end_reason]), [['driver1', 'reset']]);
});

/** A supply of `driver` at connector n (CP id) up to Charging; resolves its transactionId. */
async function supplyAt(id, n, driver, meterStart) {
  await waitReady(id);
  remoteStarts.length = 0;
  sys.startDriver(driver, [id]);
  await waitFor(() => remoteStarts.length >= 1, { timeout: 20000, what: 'RemoteStartTransaction' });
  const st = await cli.call('StartTransaction', { connectorId: n, idTag: driver, meterStart,
    timestamp: new Date().toISOString() });
  assert.equal(st.idTagInfo.status, 'Accepted');
  await status(n, 'Charging');
  await waitCpState(id, 'SUPPLYING');
  return st.transactionId;
}

/**
 * The ChangeAvailability calls the charger got; read after a Heartbeat's
 * round trip: the gateway sends one a status calls for before answering
 * that StatusNotification, so anything due has arrived by then.
 */
async function availabilityCalls() {
  await cli.call('Heartbeat', {});
  return calls.filter((c) => c[0] === 'ChangeAvailability');
}

test('busy connector 2 answers Scheduled to Inoperative and applies it after its transaction: asked once', async () => {
  const tx = await supplyAt(ID2, 2, 'driver2', 100);
  const before2 = tickets(ID2).length;
  calls.length = 0;
  availability = 'Scheduled';
  const r = await sys.http('POST', `/api/cps/${ID2}/stop`, { session: admin });
  assert.equal(r.status, 200, r.text);
  await waitFor(() => calls.length >= 2, { what: 'RemoteStop and ChangeAvailability' });
  assert.deepEqual(calls, [['RemoteStopTransaction', { transactionId: tx }],
    ['ChangeAvailability', { connectorId: 2, type: 'Inoperative' }]]);
  await gw.waitOutput(`cp=${ID2}: ChangeAvailability Inoperative scheduled by the charger`);
  // The transaction ends; as OCPP 1.6 asks, the charger then goes
  // Unavailable by itself (through Finishing while the cable is in).
  await cli.call('StopTransaction', { transactionId: tx, meterStop: 100, timestamp: new Date().toISOString(),
    reason: 'Remote' });
  await status(2, 'Finishing');
  await status(2, 'Unavailable');
  assert.deepEqual(await availabilityCalls(), [['ChangeAvailability', { connectorId: 2, type: 'Inoperative' }]]);
  await gw.waitOutput(`cp=${ID2}: the charger reports Unavailable, in line with Central's admin state (STOPPED)`);
  await waitFor(() => tickets(ID2).length > before2, { timeout: 15000, what: `the ticket of ${ID2}` });
  assert.deepEqual(tickets(ID2).slice(before2).map((t) => t.end_reason), ['stopped']);
  await waitCpState(ID2, 'STOPPED');
  availability = 'Accepted';
  assert.equal((await sys.http('POST', `/api/cps/${ID2}/resume`, { session: admin })).status, 200);
  await waitFor(() => calls.length >= 3, { what: 'ChangeAvailability Operative' });
  assert.deepEqual(calls[2], ['ChangeAvailability', { connectorId: 2, type: 'Operative' }]);
  await status(2, 'Available');
  await waitCpState(ID2, 'ACTIVATED');
});

test('a charger that forgets a Scheduled Inoperative: asked again once it reports Available, once', async () => {
  const tx = await supplyAt(ID, 1, 'driver1', 200);
  calls.length = 0;
  availability = 'Scheduled';
  const r = await sys.http('POST', `/api/cps/${ID}/stop`, { session: admin });
  assert.equal(r.status, 200, r.text);
  await waitFor(() => calls.length >= 2, { what: 'RemoteStop and ChangeAvailability' });
  assert.deepEqual(calls[1], ['ChangeAvailability', { connectorId: 1, type: 'Inoperative' }]);
  availability = 'Accepted'; // idle now, it accepts what it is asked
  await cli.call('StopTransaction', { transactionId: tx, meterStop: 200, timestamp: new Date().toISOString(),
    reason: 'Remote' });
  await status(1, 'Finishing');
  assert.equal((await availabilityCalls()).length, 1, 'Finishing: the change may still come');
  // It forgot: Available, against Central's STOPPED -> asked again.
  await status(1, 'Available');
  assert.deepEqual(await availabilityCalls(), [['ChangeAvailability', { connectorId: 1, type: 'Inoperative' }],
    ['ChangeAvailability', { connectorId: 1, type: 'Inoperative' }]]);
  // The same status again is no change: not asked a third time (no loop).
  await status(1, 'Available');
  assert.equal((await availabilityCalls()).length, 2);
  await status(1, 'Unavailable');
  assert.equal((await availabilityCalls()).length, 2);
  await waitCpState(ID, 'STOPPED');
  // Connector 2 (another CP) was never touched.
  assert.deepEqual(calls.filter((c) => c[1].connectorId === 2), []);
  assert.equal((await sys.http('POST', `/api/cps/${ID}/resume`, { session: admin })).status, 200);
  await waitFor(() => calls.length >= 4, { what: 'ChangeAvailability Operative' });
  assert.deepEqual(calls[3], ['ChangeAvailability', { connectorId: 1, type: 'Operative' }]);
  await status(1, 'Available');
  await waitCpState(ID, 'ACTIVATED');
});

test('connectors lowered to 1 mid-transaction on connector 2: CP_005.2 still ends it, billed once, then goes', async () => {
  const tx = await supplyAt(ID2, 2, 'driver2', 9000);
  const startedAt = Date.now();
  const before2 = tickets(ID2).length;
  await gw.stop();
  await cli.close({ force: true }).catch(() => {});
  const state = () => JSON.parse(fs.readFileSync(stateFile, 'utf8'));
  assert.deepEqual(state().transactions.map((t) => [t.cp_id, t.connector, t.transaction_id]),
    [[ID2, 2, tx]]);
  // The operator lowers ocpp_gateway.connectors while connector 2 charges.
  await startGateway(1);
  await connectCharger();
  await gw.waitOutput(`cp=${ID}: connector 2 is above ocpp_gateway.connectors (1) but CP ${ID2} ` +
    'has a transaction');
  await waitFor(() => Date.now() - startedAt >= 1000, { what: 'a second of supply' });
  const stop = { transactionId: tx, meterStop: 9012, timestamp: new Date().toISOString(),
    reason: 'EVDisconnected' };
  assert.equal((await cli.call('StopTransaction', stop)).idTagInfo.status, 'Accepted');
  await waitFor(() => tickets(ID2).length > before2, { timeout: 15000, what: `the ticket of ${ID2}` });
  assert.deepEqual(tickets(ID2).slice(before2).map((t) => [t.driver_id, t.energy_wh, t.end_reason]),
    [['driver2', 12, 'unplugged']]);
  await waitFor(() => state().ended.length === 0, { timeout: 15000, what: 'the outbox empty' });
  assert.deepEqual(state().transactions, []);
  // Billed: connector 2 is not served any more, as connectors: 1 says.
  await gw.waitOutput(`cp=${ID2}: the transaction of connector 2 is billed: the CP is not served any more`);
  await waitCpState(ID2, 'DISCONNECTED');
  // The same StopTransaction again: matched to nothing, not billed twice.
  await cli.call('StopTransaction', stop);
  await gw.waitOutput(`StopTransaction of unknown transaction ${tx}`);
  assert.equal(tickets(ID2).length, before2 + 1);
  // The charger's own CP goes on as a one-connector charger's.
  await waitReady(ID);
});
