#!/usr/bin/env node
// An independent OCPP 2.0.1 charger for the interop test: mikuso's `ocpp-rpc` in strict mode
// with protocol `ocpp2.0.1`, so every frame both ways is validated against the official OCPP
// 2.0.1 JSON schemas (with formats on). The 1.6 charger beside it is charger.js.
//
// Configuration (environment): OCPP_ENDPOINT (ws://127.0.0.1:PORT/ocpp; the id is appended),
// CP_ID, CP_PASSWORD, ID_TAG (a known, Accepted card), UNKNOWN_TAG (a card nobody knows),
// TX_ID (the charger's own transaction id).
//
// Output: one JSON object per line on stdout. {"event": "step", ...} for each exchange,
// {"event": "ready"} once the session is over and the charger waits for the central system's
// calls, {"event": "server_call", ...} for each such call, and last {"event": "done", "ok": bool,
// "failures": [...]}. The charger leaves when it reads "quit" on stdin (or after WAIT_S seconds).
// Exit status: 0 only if every exchange passed strict validation and every expectation held.
'use strict';

const readline = require('readline');
const { RPCClient } = require('ocpp-rpc');

const env = process.env;
const ENDPOINT = env.OCPP_ENDPOINT;
const CP_ID = env.CP_ID;
const PASSWORD = env.CP_PASSWORD;
const ID_TAG = env.ID_TAG || 'CARD0001';
const UNKNOWN_TAG = env.UNKNOWN_TAG || 'NOBODY01';
const WAIT_S = Number(env.WAIT_S || 30);
const TX_ID = env.TX_ID || 'rpc-tx-0001';

const failures = [];
const serverCalls = [];
let finished = false;
let closing = false; // set when we close the socket ourselves

function emit(obj) {
    process.stdout.write(JSON.stringify(obj) + '\n');
}

function fail(what, detail) {
    failures.push({ what, detail: String(detail) });
    emit({ event: 'failure', what, detail: String(detail) });
}

function check(cond, what, detail) {
    if (!cond) fail(what, detail);
}

const now = () => new Date().toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ

function finish(code) {
    if (finished) return;
    finished = true;
    const ok = failures.length === 0 && code === 0;
    emit({ event: 'done', ok, failures, server_calls: serverCalls.map((c) => c.method) });
    process.exitCode = ok ? 0 : 1;
    // Give stdout a moment to drain, then leave even if a socket lingers.
    setTimeout(() => process.exit(ok ? 0 : 1), 200).unref();
}

if (!ENDPOINT || !CP_ID || !PASSWORD) {
    fail('config', 'OCPP_ENDPOINT, CP_ID and CP_PASSWORD are required');
    finish(2);
    return;
}

const cli = new RPCClient({
    endpoint: ENDPOINT,
    identity: CP_ID,
    password: PASSWORD,
    protocols: ['ocpp2.0.1'],
    strictMode: true,
    reconnect: false,
    callTimeoutMs: 10000,
});

// Strict mode turns an invalid answer into a rejected call, and an invalid inbound call into an
// automatic error answer; these events say which and why. Any of them fails the run.
cli.on('strictValidationFailure', (ev) => {
    fail('strictValidationFailure', JSON.stringify({
        method: ev.method, outbound: ev.outbound, isCall: ev.isCall,
        error: ev.error && ev.error.message, params: ev.params, result: ev.result,
    }));
});
cli.on('badMessage', (ev) => {
    fail('badMessage', `${ev.error && ev.error.message}: ${ev.buffer && ev.buffer.toString()}`);
});
cli.on('close', (ev) => {
    if (!finished && !closing) fail('close', `socket closed early: ${JSON.stringify(ev)}`);
});

// --- the central system's calls ------------------------------------------------------------
const variables = { 'OCPPCommCtrlr/HeartbeatInterval': '300' };

function serverCall(method, params) {
    serverCalls.push({ method, params });
    emit({ event: 'server_call', method, params });
}

cli.handle('Reset', ({ params }) => {
    serverCall('Reset', params);
    return { status: 'Accepted' };
});
cli.handle('GetVariables', ({ params }) => {
    serverCall('GetVariables', params);
    return { getVariableResult: params.getVariableData.map((d) => {
        const key = `${d.component.name}/${d.variable.name}`;
        return key in variables
            ? { attributeStatus: 'Accepted', attributeValue: variables[key],
                component: d.component, variable: d.variable }
            : { attributeStatus: 'UnknownVariable', component: d.component,
                variable: d.variable };
    }) };
});
cli.handle('SetVariables', ({ params }) => {
    serverCall('SetVariables', params);
    return { setVariableResult: params.setVariableData.map((d) => {
        variables[`${d.component.name}/${d.variable.name}`] = d.attributeValue;
        return { attributeStatus: 'Accepted', component: d.component, variable: d.variable };
    }) };
});
cli.handle('TriggerMessage', ({ params }) => {
    serverCall('TriggerMessage', params);
    if (params.requestedMessage === 'StatusNotification') {
        setImmediate(() => step('StatusNotification (triggered)', 'StatusNotification', {
            timestamp: now(), connectorStatus: 'Available',
            evseId: (params.evse && params.evse.id) || 1,
            connectorId: (params.evse && params.evse.connectorId) || 1,
        }).catch(() => {}));
    }
    return { status: 'Accepted' };
});
cli.handle(({ method, params }) => {
    serverCall(method, params);
    const { createRPCError } = require('ocpp-rpc');
    throw createRPCError('NotImplemented', `${method} is not implemented by this test charger`);
});

// --- what the charger sends ------------------------------------------------------------------
async function step(name, method, params) {
    try {
        const response = await cli.call(method, params);
        emit({ event: 'step', name, method, request: params, response });
        return response;
    } catch (err) {
        fail(name, `${err.constructor && err.constructor.name}: ${err.message}` +
            (err.details ? ` ${JSON.stringify(err.details)}` : ''));
        throw err;
    }
}

function meter(wh, powerW, context) {
    const sampledValue = [{ value: wh, context, measurand: 'Energy.Active.Import.Register',
                            location: 'Outlet', unitOfMeasure: { unit: 'Wh' } }];
    if (powerW !== undefined) {
        sampledValue.push({ value: powerW, context, measurand: 'Power.Active.Import',
                            unitOfMeasure: { unit: 'kW', multiplier: 0 } });
        sampledValue.push({ value: 10.4, context, measurand: 'Current.Import', phase: 'L1' });
    }
    return [{ timestamp: now(), sampledValue }];
}

let seqNo = 0;
function event(eventType, triggerReason, extra) {
    return { eventType, timestamp: now(), triggerReason, seqNo: seqNo++,
             transactionInfo: { transactionId: TX_ID }, evse: { id: 1, connectorId: 1 },
             ...extra };
}

async function session() {
    try {
        await cli.call('StatusNotification', { evseId: 1, connectorStatus: 'Sleeping' });
        fail('strict mode self-check', 'an invalid StatusNotification was sent');
    } catch (err) {
        emit({ event: 'step', name: 'strict mode self-check', method: 'StatusNotification',
               rejected: err.message });
    }
    const selfCheck = failures.findIndex((f) => f.what === 'strictValidationFailure');
    if (selfCheck >= 0) failures.splice(selfCheck, 1);

    const boot = await step('BootNotification', 'BootNotification', {
        chargingStation: { vendorName: 'InteropVendor', model: 'OcppRpc-201',
                           serialNumber: 'SN-201', firmwareVersion: '2.0.1-a' },
        reason: 'PowerUp' });
    check(boot.status === 'Accepted', 'boot accepted', JSON.stringify(boot));
    check(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(boot.currentTime),
          'currentTime form', boot.currentTime);
    await step('Heartbeat', 'Heartbeat', {});
    await step('StatusNotification 1 Available', 'StatusNotification', {
        timestamp: now(), connectorStatus: 'Available', evseId: 1, connectorId: 1 });
    await step('StatusNotification 1 Occupied', 'StatusNotification', {
        timestamp: now(), connectorStatus: 'Occupied', evseId: 1, connectorId: 1 });

    const unknown = await step('Authorize unknown', 'Authorize', {
        idToken: { idToken: UNKNOWN_TAG, type: 'ISO14443' } });
    check(unknown.idTokenInfo.status === 'Invalid', 'unknown Invalid', JSON.stringify(unknown));
    const auth = await step('Authorize', 'Authorize', {
        idToken: { idToken: ID_TAG, type: 'ISO14443' } });
    check(auth.idTokenInfo.status === 'Accepted', 'known Accepted', JSON.stringify(auth));

    const started = await step('TransactionEvent Started', 'TransactionEvent', event(
        'Started', 'Authorized', { idToken: { idToken: ID_TAG, type: 'ISO14443' },
                                   meterValue: meter(1000, undefined, 'Transaction.Begin') }));
    check(started.idTokenInfo && started.idTokenInfo.status === 'Accepted', 'started Accepted',
          JSON.stringify(started));
    await step('TransactionEvent Updated', 'TransactionEvent', event(
        'Updated', 'ChargingStateChanged', {
            transactionInfo: { transactionId: TX_ID, chargingState: 'Charging' } }));
    await step('TransactionEvent Updated (meter)', 'TransactionEvent', event(
        'Updated', 'MeterValuePeriodic', { meterValue: meter(1800, 7.2, 'Sample.Periodic') }));
    await step('MeterValues', 'MeterValues', { evseId: 0, meterValue: meter(123456, undefined,
                                                                             'Sample.Clock') });
    const ended = await step('TransactionEvent Ended', 'TransactionEvent', event(
        'Ended', 'StopAuthorized', {
            transactionInfo: { transactionId: TX_ID, stoppedReason: 'Local',
                               chargingState: 'EVConnected' },
            idToken: { idToken: ID_TAG, type: 'ISO14443' },
            meterValue: meter(2500, undefined, 'Transaction.End') }));
    check(ended.idTokenInfo && ended.idTokenInfo.status === 'Accepted', 'ended idTokenInfo',
          JSON.stringify(ended));
    await step('StatusNotification 1 Available again', 'StatusNotification', {
        timestamp: now(), connectorStatus: 'Available', evseId: 1, connectorId: 1 });
    await step('SecurityEventNotification', 'SecurityEventNotification', {
        type: 'SettingSystemTime', timestamp: now(), techInfo: 'interop' });
    await step('DataTransfer', 'DataTransfer', { vendorId: 'InteropVendor', messageId: 'hello',
                                                 data: { x: 1 } });
    return TX_ID;
}

async function main() {
    const deadline = setTimeout(() => {
        fail('timeout', `no "quit" on stdin within ${WAIT_S} s`);
        finish(1);
    }, WAIT_S * 1000);
    deadline.unref();

    try {
        await cli.connect();
        emit({ event: 'connected', protocol: cli.protocol });
        check(cli.protocol === 'ocpp2.0.1', 'subprotocol', cli.protocol);
        const tx = await session();
        emit({ event: 'ready', transaction_id: tx });
    } catch (err) {
        if (!failures.length) fail('session', err && err.stack || err);
        finish(1);
        return;
    }

    const rl = readline.createInterface({ input: process.stdin });
    rl.on('line', async (line) => {
        if (line.trim() !== 'quit') return;
        rl.close();
        clearTimeout(deadline);
        closing = true;
        try {
            await cli.close({ code: 1000, reason: 'done' });
        } catch (err) {
            fail('close', err);
        }
        finish(0);
    });
}

main();
