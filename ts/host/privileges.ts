/**
 * Dropping root once the TUN device exists and the port is bound: the tunnel keeps working on the
 * descriptors it already holds, and nothing after this point needs privileges.
 */
import { readFileSync } from 'node:fs';
import { TtunError } from '../shared/errors.js';

export function dropPrivileges(user: string, group?: string): void {
  const gid = groupToDropTo(user, group);
  try {
    // Groups first: once the uid changes they can no longer be changed.
    process.setgroups?.([]);
    process.setgid!(gid);
    process.setuid!(user);
  } catch (err) {
    throw new TtunError(`cannot switch to user ${user} and group ${gid}: ${(err as Error).message}`, 'EPRIV');
  }
}

/**
 * What dropPrivileges checks before it changes anything (`ttun check` runs it): the platform can
 * do it, and without --group the user is known. The group to switch to.
 */
export function groupToDropTo(user: string, group?: string): string | number {
  if (typeof process.setuid !== 'function' || typeof process.setgid !== 'function') {
    throw new TtunError('--user is not supported on this platform', 'ENOTSUP');
  }
  return group ?? primaryGroupOf(user);
}

/** The user's primary group from /etc/passwd (Node has no getpwnam); `--group` overrides it. */
function primaryGroupOf(user: string): number {
  let passwd = '';
  try {
    passwd = readFileSync('/etc/passwd', 'utf8');
  } catch {
    /* handled below */
  }
  const entry = passwd
    .split('\n')
    .map((line) => line.split(':'))
    .find((f) => f[0] === user || f[2] === user);
  if (!entry) throw new TtunError(`unknown user ${user}: give --group as well, or create the user`, 'EPRIV');
  return Number(entry[3]);
}
