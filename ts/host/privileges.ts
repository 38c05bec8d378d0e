/**
 * Running as another user: the account is looked up before anything is created (a TUN, a socket),
 * through the operating system's name service as `id` does it (getent, so NSS: files, LDAP, sssd,
 * systemd's DynamicUser), and switched to once the TUN device exists and the port is bound. The
 * tunnel keeps working on the descriptors it already holds; nothing after the switch needs root.
 */
import { execFileSync } from 'node:child_process';
import { TtunError } from '../shared/errors.js';

/** The account to switch to, resolved. */
export interface Account {
  user: string;
  uid: number;
  /** --group's, or else the user's primary group. */
  gid: number;
  group: string;
}

type Lookup = (database: 'passwd' | 'group', key: string) => string[] | undefined;

/** One entry of an NSS database by name or number, as `getent DATABASE KEY` prints it; undefined if there is none. */
function getent(database: 'passwd' | 'group', key: string): string[] | undefined {
  try {
    const line = execFileSync('getent', [database, key], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return line.split('\n')[0]!.split(':');
  } catch (err) {
    // exit 2: no such entry. Anything else (no getent at all) is not an answer.
    if ((err as { status?: number }).status === 2) return undefined;
    throw new TtunError(
      `cannot look up ${database === 'passwd' ? 'users' : 'groups'}: getent failed (${(err as Error).message.split('\n')[0]})`,
      'EPRIV',
    );
  }
}

/**
 * `--user` / `--group` as the run will use them, checked before anything is created (the run and
 * `ttun check` both call this): a user or group the system does not know, or a group without a
 * user, is a usage error.
 */
export function resolveAccount(user: string | undefined, group: string | undefined, lookup: Lookup = getent): Account | undefined {
  if (user === undefined) {
    if (group !== undefined) throw new TtunError('--group needs --user: give the user to run as too', 'EBADUSER');
    return undefined;
  }
  if (typeof process.setuid !== 'function' || typeof process.setgid !== 'function') {
    throw new TtunError('--user is not supported on this platform', 'ENOTSUP');
  }
  const passwd = lookup('passwd', user);
  if (passwd === undefined) throw new TtunError('unknown user: no such account on this system', 'EBADUSER');
  const account = { user: passwd[0]!, uid: Number(passwd[2]), gid: Number(passwd[3]), group: String(passwd[3]) };
  if (group === undefined) {
    const primary = lookup('group', String(account.gid));
    return { ...account, group: primary?.[0] ?? String(account.gid) };
  }
  const entry = lookup('group', group);
  if (entry === undefined) throw new TtunError('unknown group: no such group on this system', 'EBADUSER');
  return { ...account, gid: Number(entry[2]), group: entry[0]! };
}

export function dropPrivileges(account: Account): void {
  try {
    // Groups first: once the uid changes they can no longer be changed.
    process.setgroups?.([]);
    process.setgid!(account.gid);
    process.setuid!(account.uid);
  } catch (err) {
    throw new TtunError(`cannot switch to user ${account.user} and group ${account.group}: ${(err as Error).message}`, 'EPRIV');
  }
}
