#!/usr/bin/env node
// Entry point of the `ttun` command.
//
// Until some JavaScript listens for SIGUSR1, Node answers that signal by opening its debugger on
// 127.0.0.1:9229: unauthenticated, and ttun usually runs as root. ttun logs its counters on
// SIGUSR1 (the README invites `kill -USR1`), so a listener must exist before anything else. ES
// modules evaluate their static imports before their own body, hence no static import here: the
// listener first, the CLI loaded after it. Signals that arrive before the CLI can log counters are
// kept and handed over. (Node >= 22.14 has --disable-sigusr1, which closes even the short window
// before this line runs; the systemd units pass it where the installed Node has it.)
let pendingUsr1 = 0;
let onUsr1;
process.on('SIGUSR1', () => {
  if (onUsr1) onUsr1();
  else pendingUsr1 += 1;
});

// A SIGUSR1 that came before the listener above may have started the debugger, now or a moment
// later (Node starts it asynchronously): close it each time we look, and remember that it was open.
const inspector = await import('node:inspector');
let inspectorWasOpen = false;
function closeInspector() {
  if (inspector.url() !== undefined) {
    inspector.close();
    inspectorWasOpen = true;
  }
  return inspectorWasOpen;
}
closeInspector();

const { main } = await import('../dist/ts/cli/cli.js');
main(process.argv.slice(2), {
  takeSigusr1(handler) {
    onUsr1 = handler;
    // Several signals before start-up ended ask for the same thing: the counters, once.
    if (pendingUsr1 > 0) handler();
    pendingUsr1 = 0;
  },
  closeInspector,
});
