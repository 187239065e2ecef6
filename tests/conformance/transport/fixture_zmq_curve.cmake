# The CURVE variant runs the "zmq" plugin with the zmq fixture's proxy code.
set(_plugin zmq)
list(APPEND _sources ${CMAKE_SOURCE_DIR}/plugins/transport_zmq/zmqt_proxy.c)
list(APPEND _incs ${CMAKE_SOURCE_DIR}/plugins/transport_zmq)
list(APPEND _libs PkgConfig::ZMQ)
