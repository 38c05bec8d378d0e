/**
 * A deadline on a piece of async work, the one way ttun races work against a timer (the
 * handshake, a proxy's negotiation).
 */

/**
 * `work`, or `error()` if it has not settled within `ms`. The work is not cancelled: whoever
 * gave it must make it harmless (close its socket); its later failure is swallowed here.
 */
export async function within<T>(work: Promise<T>, ms: number, error: () => Error): Promise<T> {
  work.catch(() => {});
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([work, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(error()), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
