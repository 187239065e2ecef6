/* sec_wire.h: what the transport-security scenarios need besides the bus --
 * the real evc-zmq-proxy program, a recording TCP relay, raw libzmq sockets
 * watched through a socket monitor. Test code: failures are Criterion
 * assertions. */
#ifndef SEC_WIRE_H
#define SEC_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* ---- the evc-zmq-proxy program ---- */
typedef struct sec_proxy {
    pid_t pid;
    int out;                /* its stdout, kept open so its last line has a reader */
    int port;               /* XSUB; XPUB is port + 1 */
    char endpoint[64];      /* "127.0.0.1:<port>" */
    char pub[41];           /* CURVE public key, "" when plain */
} sec_proxy;

/* `evc-zmq-proxy --curve-keygen path`: writes the public key to pub (41). */
void sec_keygen(const char *path, char *pub);
/* Starts the program on a free port pair, with `secret_file` (CURVE) or NULL
 * (plain); returns once it printed that it listens. */
void sec_proxy_start(sec_proxy *p, const char *secret_file, const char *pub);
void sec_proxy_stop(sec_proxy *p);

/* ---- a TCP relay that records every byte in both directions ---- */
typedef struct sec_relay sec_relay;
/* Listens on a free loopback port, forwards each accepted connection to
 * 127.0.0.1:to_port. Writes "tcp://127.0.0.1:<port>" to ep (64 bytes). */
sec_relay *sec_relay_start(int to_port, char *ep);
/* true when the bytes seen so far (either direction) contain needle. */
bool sec_relay_saw(sec_relay *r, const char *needle);
size_t sec_relay_bytes(sec_relay *r);
void sec_relay_stop(sec_relay *r);

/* ---- raw sockets and their handshakes ---- */
/* Monitors `sock` (ZMQ_EVENT_ALL) on a fresh inproc endpoint; returns the
 * PAIR socket to read events from. */
void *sec_monitor(void *ctx, void *sock);
/* Reads monitor events until one of `mask` arrives (true) or deadline_ms
 * passes (false). Every event seen is OR-ed into *seen. */
bool sec_wait_event(void *mon, int mask, int deadline_ms, int *seen);

#define SEC_HANDSHAKE_FAILED                                                                 \
    (ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |            \
     ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)

#endif
