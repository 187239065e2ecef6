/* fixture_zmq_curve.c: the conformance suite over ZeroMQ with CURVE on
 * (conformance_transport_zmq_curve): the proxy is a CURVE server with a key
 * pair made for the test, every client has transport.zmq.curve.
 * server_public_key and a key pair generated per process. The fixture is
 * fixture_zmq.c with FIXTURE_ZMQ_CURVE set; fixture_zmq_curve.cmake loads
 * the "zmq" plugin under this suite's name. */
#define FIXTURE_ZMQ_CURVE 1
#include "fixture_zmq.c"
