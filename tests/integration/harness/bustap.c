/* bustap.c: records every message crossing a ZeroMQ bus proxy, for scenario
 * assertions on what the programs published (Kafka keeps its topics, so
 * kcat reads them after the fact; a ZeroMQ proxy keeps nothing).
 *
 *   evc-it-bustap <xpub-endpoint> <file>
 *
 * One line per message: topic, TAB, payload (newlines in the payload become
 * spaces). Flushed per message. Runs until SIGTERM/SIGINT. Test-only. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>

static volatile sig_atomic_t bustap_stop;
static void bustap_on_signal(int sig) { (void)sig; bustap_stop = 1; }

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: evc-it-bustap XPUB_ENDPOINT FILE\n");
        return 2;
    }
    FILE *out = fopen(argv[2], "w");
    if (!out) {
        perror(argv[2]);
        return 1;
    }
    signal(SIGTERM, bustap_on_signal);
    signal(SIGINT, bustap_on_signal);
    void *ctx = zmq_ctx_new();
    void *sub = zmq_socket(ctx, ZMQ_SUB);
    int hwm = 0, timeout = 200, linger = 0;
    zmq_setsockopt(sub, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(sub, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    zmq_setsockopt(sub, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "", 0);
    if (zmq_connect(sub, argv[1]) != 0) {
        fprintf(stderr, "evc-it-bustap: connect %s: %s\n", argv[1], zmq_strerror(zmq_errno()));
        return 1;
    }
    printf("evc-it-bustap: listening on %s\n", argv[1]);
    fflush(stdout);
    while (!bustap_stop) {
        zmq_msg_t part[3];
        int nparts = 0, more = 1;
        while (more) {
            zmq_msg_t m;
            zmq_msg_init(&m);
            if (zmq_msg_recv(&m, sub, 0) < 0) {
                zmq_msg_close(&m);
                if (nparts == 0)
                    break; /* timeout: look at the stop flag */
                continue;
            }
            more = zmq_msg_more(&m);
            if (nparts < 3)
                part[nparts++] = m;
            else
                zmq_msg_close(&m);
        }
        if (nparts == 3) {
            /* Frame 0 is "topic\0key\0" (framing v2): the topic alone. */
            fwrite(zmq_msg_data(&part[0]), 1,
                   strnlen(zmq_msg_data(&part[0]), zmq_msg_size(&part[0])), out);
            fputc('\t', out);
            const char *p = zmq_msg_data(&part[2]);
            for (size_t i = 0; i < zmq_msg_size(&part[2]); i++)
                fputc(p[i] == '\n' ? ' ' : p[i], out);
            fputc('\n', out);
            fflush(out);
        }
        for (int i = 0; i < nparts; i++)
            zmq_msg_close(&part[i]);
    }
    fclose(out);
    zmq_close(sub);
    zmq_ctx_term(ctx);
    return 0;
}
