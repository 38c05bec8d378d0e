/**
 * `ttun status [--dev NAME] [--json]`: asks the running instances (all of them, or the one whose
 * TUN is NAME) through their control sockets and prints what they say. Exit 0 with at least one
 * answer; 1 when none runs or none can be read, with the reason in one line.
 */
import {
  type ControlAnswer,
  describeSocket,
  type FoundSocket,
  findControlSockets,
  namespaceDirectory,
  readControlSocket,
} from '../observability/control-socket.js';
import { CONTROL_DIRECTORY } from '../shared/tunables.js';
import { type StatusReport, statusText } from './status.js';

export interface StatusResult {
  stdout: string;
  /** The one line to print on stderr and exit 1 with, when nothing could be shown. */
  failure?: string;
}

function unreadable(socket: FoundSocket, answer: Exclude<ControlAnswer, { ok: true }>): string {
  const name = describeSocket(socket);
  if (answer.code === 'EACCES' || answer.code === 'EPERM')
    return `cannot read ${name}'s status: only root or the user ttun runs as may (try sudo ttun status)`;
  return `cannot read ${name}'s status: ${answer.message}`;
}

export async function runStatus(options: { dev?: string; json: boolean }): Promise<StatusResult> {
  const directory = namespaceDirectory() ?? CONTROL_DIRECTORY;
  const sockets = findControlSockets(options.dev, directory);
  const reports: Array<{ socket: FoundSocket; report: StatusReport }> = [];
  const problems: string[] = [];
  for (const socket of sockets) {
    const answer = await readControlSocket(socket.path);
    // A socket nobody answers on is what an instance that ended without cleaning up leaves: it runs no more.
    if (!answer.ok && (answer.code === 'ECONNREFUSED' || answer.code === 'ENOENT')) continue;
    if (!answer.ok) problems.push(unreadable(socket, answer));
    else reports.push({ socket, report: JSON.parse(answer.text) as StatusReport });
  }
  if (reports.length === 0) {
    if (problems.length > 0) return { stdout: '', failure: problems[0]! };
    const which = options.dev === undefined ? 'no ttun instance is running' : `no ttun instance is running on ${options.dev}`;
    return { stdout: '', failure: `${which} (no control socket answers in ${directory})` };
  }
  if (options.json) {
    // Always an array, one object per instance (even with --dev: two namespaces may each have one).
    const value = reports.map(({ socket, report }) => ({ ...report, socket: socket.path }));
    return { stdout: `${JSON.stringify(value, null, 2)}\n` };
  }
  return { stdout: reports.map(({ socket, report }) => statusText(report, describeSocket(socket))).join('\n') };
}
