/* fuzz_envelope: strict envelope decoding on arbitrary bytes.
 * Checks, besides "no crash, no sanitizer report": a failure always has a
 * message; an accepted envelope re-encodes, and the re-encoded text decodes
 * to the same text again (encode . decode is a fixed point). The payload
 * builder's raw-JSON path gets the same input. */
#include <evc/envelope.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    evc_envelope_limits lim = {.max_bytes = 4096};
    evc_envelope *e = NULL;
    evc_error err = {0};
    int rc = evc_envelope_decode(data, size, &lim, &e, &err);
    if (rc != EVC_OK) {
        if (e || err.msg[0] == '\0' || err.code != rc)
            abort();
    } else {
        char *t1, *t2;
        size_t l1, l2;
        if (evc_envelope_encode(e, &t1, &l1, &err) != EVC_OK)
            abort();
        evc_envelope *e2 = NULL;
        if (evc_envelope_decode(t1, l1, NULL, &e2, &err) != EVC_OK)
            abort();
        if (evc_envelope_encode(e2, &t2, &l2, &err) != EVC_OK || l1 != l2 || memcmp(t1, t2, l1) != 0)
            abort();
        free(t1);
        free(t2);
        evc_envelope_free(e2);
        evc_envelope_free(e);
    }

    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    evc_payload *p = evc_payload_new();
    evc_payload_raw(p, "raw", text);
    evc_payload_str(p, "str", text);
    free(evc_payload_finish(p, &err));
    free(text);
    return 0;
}
