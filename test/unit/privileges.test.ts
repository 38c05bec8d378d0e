// --user / --group are resolved through the system's name service before anything is created:
// what resolveAccount makes of the answers (getent's fields), and what it refuses.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolveAccount } from '../../ts/host/privileges.js';

const PASSWD: Record<string, string[]> = {
  ttun: ['ttun', 'x', '990', '985', '', '/', '/usr/sbin/nologin'],
  '990': ['ttun', 'x', '990', '985', '', '/', '/usr/sbin/nologin'],
};
const GROUP: Record<string, string[]> = {
  '985': ['ttun', 'x', '985', ''],
  ttun: ['ttun', 'x', '985', ''],
  netdev: ['netdev', 'x', '110', ''],
};
const lookup = (database: 'passwd' | 'group', key: string) => (database === 'passwd' ? PASSWD : GROUP)[key];

test('a user alone gets its primary group; by name or number', () => {
  assert.deepEqual(resolveAccount('ttun', undefined, lookup), { user: 'ttun', uid: 990, gid: 985, group: 'ttun' });
  assert.deepEqual(resolveAccount('990', undefined, lookup), { user: 'ttun', uid: 990, gid: 985, group: 'ttun' });
});

test('--group names the group to switch to', () => {
  assert.deepEqual(resolveAccount('ttun', 'netdev', lookup), { user: 'ttun', uid: 990, gid: 110, group: 'netdev' });
});

test('no --user: nothing to do; --group alone, an unknown user or group: a usage error', () => {
  assert.equal(resolveAccount(undefined, undefined, lookup), undefined);
  const usage = (user: string | undefined, group: string | undefined, message: RegExp) =>
    assert.throws(
      () => resolveAccount(user, group, lookup),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, 'EBADUSER');
        assert.match(err.message, message);
        return true;
      },
    );
  usage(undefined, 'netdev', /^--group needs --user/);
  usage('nobody-here', undefined, /^unknown user: no such account/);
  usage('ttun', 'nogroup-here', /^unknown group: no such group/);
});

test('the real name service (getent) knows root', () => {
  assert.deepEqual(resolveAccount('root', undefined), { user: 'root', uid: 0, gid: 0, group: 'root' });
});
