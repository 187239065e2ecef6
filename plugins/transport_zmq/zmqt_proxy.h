/* zmqt_proxy.h: the XSUB/XPUB forwarder every ZeroMQ publisher and
 * subscriber of EVCharging meets in the middle.
 *
 * Used by three programs: the plugin (`proxy: embedded`), the standalone
 * `evc-zmq-proxy` tool and the conformance fixture. It depends on libzmq and
 * libc only, so the tool does not need the core.
 *
 * The sockets are bound in the calling thread, so that a bind failure (port
 * in use, bad address) is reported to the caller synchronously; the forwarding
 * runs in a thread the proxy owns (a zmq_poll loop, not zmq_proxy: it passes
 * only the topic of each subscription up to the publishers and leaves the
 * filtering by key to its XPUB socket, see zmqt_proxy.c), stopped through an
 * inproc control socket so that stop is prompt and clean.
 */
#ifndef ZMQT_PROXY_H
#define ZMQT_PROXY_H

#include <stddef.h>

typedef struct zmqt_proxy zmqt_proxy;

/* Binds XSUB on `xsub_endpoint` (publishers connect here) and XPUB on
 * `xpub_endpoint` (subscribers connect here), ZeroMQ endpoint syntax
 * ("tcp://127.0.0.1:5555"; port "*" lets the OS choose). `hwm` is the high-
 * water mark of both proxy sockets (0 = unbounded): when the XPUB queue towards
 * one slow subscriber reaches it, ZeroMQ drops further messages for that
 * subscriber (its plugin counts them as lost). `ctx` is the ZeroMQ context to
 * use (borrowed; must outlive the proxy) or NULL for a context of its own.
 * On failure returns -1 and writes a one-line message naming the address to
 * errbuf. On success *out is owned by the caller (zmqt_proxy_stop). */
int zmqt_proxy_start(void *ctx, const char *xsub_endpoint, const char *xpub_endpoint, int hwm,
                     zmqt_proxy **out, char *errbuf, size_t errcap);

/* As zmqt_proxy_start, with ZeroMQ CURVE when `curve_secret_z85` is not NULL:
 * both proxy sockets are CURVE servers with that secret key (40-character
 * Z85, borrowed for the call; libzmq keeps its own copy). Peers must then be
 * CURVE clients that know the matching public key: a plain peer, or one with
 * another server key, fails the handshake and exchanges no message. No ZAP
 * handler is installed, so any client key pair is accepted (CURVE here gives
 * confidentiality and server authentication, not client authentication).
 * Fails (message in errbuf) when libzmq has no CURVE or the key is invalid. */
int zmqt_proxy_start_curve(void *ctx, const char *xsub_endpoint, const char *xpub_endpoint,
                           int hwm, const char *curve_secret_z85, zmqt_proxy **out,
                           char *errbuf, size_t errcap);

/* The endpoints as bound (ports resolved when "*" was asked). Borrowed until
 * zmqt_proxy_stop. */
const char *zmqt_proxy_xsub(const zmqt_proxy *p);
const char *zmqt_proxy_xpub(const zmqt_proxy *p);

/* Terminates the forwarding thread, closes the sockets (linger 0: messages
 * still queued in the proxy are dropped, as a crashed proxy would) and frees
 * p. NULL is a no-op. Not thread-safe with itself. */
void zmqt_proxy_stop(zmqt_proxy *p);

#endif
