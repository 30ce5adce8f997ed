// common.js - starting a server under test, for the grpc-js tests
// (interop_js.js, interop_cases.js, client_stream.js).
'use strict';
const net = require('net');
const { spawn } = require('child_process');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A TCP port on 127.0.0.1 that was free a moment ago.
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
    s.on('error', reject);
  });
}

function canConnect(port) {
  return new Promise((resolve) => {
    const c = net.connect(port, '127.0.0.1');
    c.on('connect', () => { c.destroy(); resolve(true); });
    c.on('error', () => resolve(false));
  });
}

// Runs `cmd --listen 127.0.0.1:PORT` and waits (10 s at most) until it
// accepts connections. Resolves { port, proc, err (its last stderr),
// code, exited }; throws with its stderr if it never does.
async function startServer(cmd) {
  const port = await freePort();
  const parts = cmd.split(/\s+/).filter(Boolean);
  const proc = spawn(parts[0], parts.slice(1).concat(['--listen', `127.0.0.1:${port}`]),
    { stdio: ['ignore', 'ignore', 'pipe'] });
  const srv = { port, proc, err: '', code: undefined };
  proc.stderr.on('data', (d) => { srv.err = (srv.err + d).slice(-2000); });
  srv.exited = new Promise((r) => proc.on('exit', (code) => { srv.code = code; r(); }));
  const end = Date.now() + 10000;
  while (Date.now() < end && srv.code === undefined) {
    if (await canConnect(port)) return srv;
    await sleep(20);
  }
  proc.kill('SIGKILL');
  throw new Error(`server did not start: ${cmd}\n${srv.err}`);
}

module.exports = { sleep, freePort, canConnect, startServer };
