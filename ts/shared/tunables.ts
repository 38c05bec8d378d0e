/**
 * Every tunable number of the TypeScript side, each with why it has its value. Defaults of
 * options (handshake deadlines, admission bounds) live here too; the options themselves are
 * validated in config.ts and endpoint.ts/server.ts. The Rust core keeps its own constants, except
 * the socket options, which it takes from here (connections.ts passes them to the addon).
 */

// --- Handshake and admission (server options' defaults) ---

/** v1 gives the whole handshake 10 s on each side. Also bounds a client's connect and its proxy negotiation. */
export const HANDSHAKE_TIMEOUT_MS = 10_000;
/** The first phase alone: a real client sends its nonce at once, so a connection still silent by then is closed. */
export const NONCE_TIMEOUT_MS = 5_000;
/** Connections in their handshake that the server holds at once; a newcomer beyond it evicts one. */
export const MAX_PENDING_HANDSHAKES = 64;
/**
 * Of those, how many may come from one source (an IPv4 address, an IPv6 /64); a newcomer beyond it
 * evicts that source's own oldest, so one address flooding the port cannot push anyone else out.
 */
export const MAX_PENDING_HANDSHAKES_PER_SOURCE = 8;
/** The listen backlog of an MPTCP listener (what Node gives a TCP one), so both queue the same. */
export const LISTEN_BACKLOG = 511;

// --- The client's reconnect backoff (v1's schedule) ---

/** First delay between attempt starts: quick to come back after a blip. */
export const BACKOFF_INITIAL_MS = 1_000;
/** The doubling stops here: an unreachable server costs one attempt per 30 s, and is retried within 30 s once it returns. */
export const BACKOFF_MAX_MS = 30_000;
/** A session that lasted longer than this resets the backoff: the link was good, a drop after it is news. */
export const BACKOFF_RESET_AFTER_MS = 60_000;

// --- TCP options on every tunnel connection (set through Node and the addon) ---

/** Idle time before the first keepalive probe, and between probes: v1 frames have no room for keepalives, TCP does it. */
export const KEEPALIVE_SECS = 15;
/** Unacknowledged data older than this ends the connection (with keepalive: idle peers too), so a dead peer is noticed within a minute. */
export const USER_TIMEOUT_MS = 30_000;
/** Unsent bytes the kernel may hold for us; beyond it the socket reports backpressure, which keeps latency under load low. */
export const NOTSENT_LOWAT = 128 * 1024;

// --- Proxy negotiation ---

/** Longest header a proxy may answer CONNECT with: far above any real reply, small enough that a stranger cannot make us buffer much. */
export const PROXY_MAX_REPLY_HEADER_BYTES = 16 * 1024;

// --- Packet queues for JavaScript readers (userspace mode, the openTun() packet API) ---

/** Packets queued for a slow reader before the source is paused: enough to ride out a GC pause at line rate. */
export const PACKET_QUEUE_HIGH = 4096;
/** Reading resumes once the queue is down to this, so pause/resume does not flap at one mark. */
export const PACKET_QUEUE_LOW = 1024;

// --- Reports ---

/** How often dropped-packet counters are compared and any increase reported: one line per kind, not one per packet. */
export const DROP_REPORT_INTERVAL_MS = 2_000;
/** Connection and rejection lines per second before they are summarised: a flood of connections must not flood the log. */
export const LOG_LINES_PER_SECOND = 10;
/** A metrics scrape (request and headers) must arrive within this: a silent client cannot hold a socket open. */
export const METRICS_REQUEST_TIMEOUT_MS = 10_000;

/**
 * Connections the metrics listener holds at once: a scraper or two need one each; beyond this Node
 * closes a newcomer at once, so idle connections to the metrics port cannot use up the file
 * descriptors the tunnel needs.
 */
export const METRICS_MAX_CONNECTIONS = 16;

/** A metrics connection with nothing sent or received for this long is closed (a scraper reconnects). */
export const METRICS_IDLE_TIMEOUT_MS = 5_000;

/** The metrics listener's accept failures (out of file descriptors) are reported at most this often. */
export const METRICS_ERROR_REPORT_MS = 10_000;

/** How often Node checks the metrics connections' request deadlines (its default, 30 s, lets them pile up). */
export const METRICS_DEADLINE_CHECK_MS = 1_000;

// --- The control socket (`ttun status`) ---

/** Where each instance's control socket is (`<dev>.sock`), unless systemd gives a RUNTIME_DIRECTORY. */
export const CONTROL_DIRECTORY = '/run/ttun';
/** Status readers at once: one answer each, written as they connect; anyone beyond waits for the next turn. */
export const CONTROL_MAX_CONNECTIONS = 4;
/** A reader that does not take its answer within this is cut off. */
export const CONTROL_TIMEOUT_MS = 2_000;
