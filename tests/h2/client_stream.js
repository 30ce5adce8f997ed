#!/usr/bin/env node
// Client streaming through @grpc/grpc-js: examples/counter.c's Counter/Sum.
//
//   node tests/h2/client_stream.js --server CMD
//
// The same checks as tests/h2/client_stream.py (CMD: the Counter services in
// grpcstream's shell, started as `CMD --listen 127.0.0.1:PORT`), with
// messages encoded by hand (one varint field 1). Without tests/node_modules
// every check prints SKIP. One PASS:/FAIL:/SKIP: line per check; exit
// status 1 on any FAIL.
'use strict';
const path = require('path');
const { startServer } = require('./common');

const TIMEOUT_MS = 10000;
let grpc = null;
try {
  grpc = require(path.join(__dirname, '..', 'node_modules', '@grpc', 'grpc-js'));
} catch (e) {
  grpc = null;
}

function varint(v) {
  const out = [];
  let x = BigInt(v);
  do {
    let b = Number(x & 0x7fn);
    x >>= 7n;
    if (x) b |= 0x80;
    out.push(b);
  } while (x);
  return out;
}
const encN = (n) => Buffer.from(BigInt(n) ? [0x08, ...varint(n)] : []);
function decN(buf) {
  if (!buf.length) return 0n;
  if (buf[0] !== 0x08) throw new Error(`unexpected tag ${buf[0]}`);
  let v = 0n;
  let shift = 0n;
  for (let i = 1; i < buf.length; i++) {
    v |= BigInt(buf[i] & 0x7f) << shift;
    shift += 7n;
    if (!(buf[i] & 0x80)) return v;
  }
  throw new Error('truncated varint');
}

// Counter/Sum over `numbers`: resolves { err, value }.
function sum(client, numbers) {
  return new Promise((resolve) => {
    const call = client.makeClientStreamRequest('/Counter/Sum', encN, decN, new grpc.Metadata(),
      { deadline: new Date(Date.now() + TIMEOUT_MS) }, (err, value) => resolve({ err, value }));
    for (const n of numbers) call.write(n);
    call.end();
  });
}

async function main() {
  const i = process.argv.indexOf('--server');
  if (i < 0) { console.error('usage: client_stream.js --server CMD'); return 2; }
  const cmd = process.argv[i + 1];
  if (!grpc) { console.log('SKIP: grpc-js client streaming (tests/node_modules missing: npm ci --prefix tests)'); return 0; }
  let failed = 0;
  const srv = await startServer(cmd);
  const client = new grpc.Client(`127.0.0.1:${srv.port}`, grpc.credentials.createInsecure(),
    { 'grpc.use_local_subchannel_pool': 1 });
  const checks = [
    ['Sum: [2, 40] -> 42, status OK', async () => {
      const r = await sum(client, [2, 40]);
      if (r.err || r.value !== 42n) throw new Error(`${r.err} ${r.value}`);
    }],
    ['Sum: no messages -> 0, status OK', async () => {
      const r = await sum(client, []);
      if (r.err || r.value !== 0n) throw new Error(`${r.err} ${r.value}`);
    }],
    ['Sum: 5,000 messages of 1..5000 -> 12,502,500', async () => {
      const r = await sum(client, Array.from({ length: 5000 }, (_, k) => k + 1));
      if (r.err || r.value !== 12502500n) throw new Error(`${r.err} ${r.value}`);
    }],
    ['Sum: 2^64-1 then 1 -> OUT_OF_RANGE "sum past 2^64-1"', async () => {
      const r = await sum(client, [(1n << 64n) - 1n, 1]);
      if (!r.err || r.err.code !== grpc.status.OUT_OF_RANGE || r.err.details !== 'sum past 2^64-1')
        throw new Error(`got ${r.err && r.err.code} ${r.err && r.err.details} ${r.value}`);
    }],
    ['Sum: many calls at once, each its own total', async () => {
      const rs = await Promise.all(Array.from({ length: 40 }, (_, k) => sum(client, Array(k + 1).fill(k + 1))));
      rs.forEach((r, k) => {
        if (r.err || r.value !== BigInt((k + 1) * (k + 1))) throw new Error(`call ${k}: ${r.err} ${r.value}`);
      });
    }],
    ['metadata: Sum echoes x-grpc-test-echo-initial as initial, -trailing-bin as trailing', async () => {
      const md = new grpc.Metadata();
      md.set('x-grpc-test-echo-initial', 'test_initial_metadata_value');
      md.set('x-grpc-test-echo-trailing-bin', Buffer.from([0xab, 0xab, 0xab]));
      const got = await new Promise((resolve) => {
        const r = {};
        const call = client.makeClientStreamRequest('/Counter/Sum', encN, decN, md,
          { deadline: new Date(Date.now() + TIMEOUT_MS) }, (err, value) => { r.err = err; r.value = value; });
        call.on('metadata', (m) => { r.initial = m; });
        call.on('status', (st) => { r.trailing = st.metadata; resolve(r); });
        call.write(1);
        call.write(2);
        call.end();
      });
      const ini = got.initial && got.initial.get('x-grpc-test-echo-initial');
      const trl = got.trailing && got.trailing.get('x-grpc-test-echo-trailing-bin');
      if (got.err || got.value !== 3n || !ini || ini[0] !== 'test_initial_metadata_value' ||
          !trl || !Buffer.from([0xab, 0xab, 0xab]).equals(trl[0]))
        throw new Error(`err ${got.err} value ${got.value} initial ${ini} trailing ${trl}`);
    }],
  ];
  for (const [name, fn] of checks) {
    try {
      await fn();
      console.log(`PASS: grpc-js client streaming: ${name}`);
    } catch (e) {
      failed++;
      console.log(`FAIL: grpc-js client streaming: ${name}\n    ${String(e.stack || e).split('\n').join('\n    ')}`);
    }
  }
  client.close();
  srv.proc.kill('SIGTERM');
  await srv.exited;
  if (srv.code === 0) console.log('PASS: grpc-js client streaming: the server exits 0 after SIGTERM');
  else { failed++; console.log(`FAIL: grpc-js client streaming: the server exits 0 after SIGTERM\n    exit ${srv.code}\n${srv.err}`); }
  return failed ? 1 : 0;
}

main().then((code) => process.exit(code), (e) => { console.log(`FAIL: grpc-js client streaming: ${e.stack || e}`); process.exit(1); });
