/* frame_encode.c: opcode + fields -> <STX>DATA<ETX><LRC>. */
#include "frame_internal.h"

#include <stdlib.h>
#include <string.h>

/* Length of a valid opcode, 0 when invalid. */
static size_t opcode_len(const char *opcode)
{
    if (!opcode || !opcode[0])
        return 0;
    size_t n = 0;
    for (; opcode[n]; n++)
        if (!evc_frame_opcode_byte((unsigned char)opcode[n]))
            return 0;
    return n;
}

size_t evc_frame_encoded_size(const char *opcode, const evc_frame_field *fields, size_t nfields)
{
    size_t n = opcode_len(opcode);
    if (n == 0 || (nfields && !fields))
        return 0;
    size_t total = n + 3; /* STX, ETX, LRC */
    for (size_t i = 0; i < nfields; i++) {
        const unsigned char *p = (const unsigned char *)fields[i].data;
        size_t esc = 0;
        if (fields[i].len && !p)
            return 0;
        for (size_t j = 0; j < fields[i].len; j++)
            esc += evc_frame_escape_of(p[j]) != 0;
        size_t add = 1 + fields[i].len;
        if (add < fields[i].len || add + esc < add || total + add + esc < total)
            return 0;
        total += add + esc;
    }
    return total;
}

int evc_frame_encode(const char *opcode, const evc_frame_field *fields, size_t nfields,
                     void *buf, size_t cap, size_t *out_len, evc_error *err)
{
    if (!out_len || (!buf && cap))
        return evc_error_set(err, EVC_EINVAL, "frame encode: NULL argument");
    size_t need = evc_frame_encoded_size(opcode, fields, nfields);
    if (need == 0) {
        if (!opcode_len(opcode))
            return evc_error_set(err, EVC_EINVAL,
                                 "frame encode: opcode \"%.32s\" is not [A-Z0-9_]+",
                                 opcode ? opcode : "(null)");
        return evc_error_set(err, EVC_EINVAL, "frame encode: NULL field or size overflow");
    }
    *out_len = need;
    if (cap < need)
        return evc_error_set(err, EVC_ETOOBIG, "frame encode: frame of %zu bytes exceeds buffer of %zu",
                             need, cap);
    unsigned char *o = buf;
    unsigned char lrc = 0;
    size_t k = 0;
    o[k++] = EVC_FRAME_STX;
    for (const char *s = opcode; *s; s++) {
        o[k++] = (unsigned char)*s;
        lrc ^= (unsigned char)*s;
    }
    for (size_t i = 0; i < nfields; i++) {
        o[k++] = EVC_FRAME_SEP;
        lrc ^= EVC_FRAME_SEP;
        const unsigned char *p = (const unsigned char *)fields[i].data;
        for (size_t j = 0; j < fields[i].len; j++) {
            unsigned char e = evc_frame_escape_of(p[j]);
            if (e) {
                o[k++] = EVC_FRAME_ESC;
                lrc ^= EVC_FRAME_ESC;
                o[k++] = e;
                lrc ^= e;
            } else {
                o[k++] = p[j];
                lrc ^= p[j];
            }
        }
    }
    o[k++] = EVC_FRAME_ETX;
    lrc ^= EVC_FRAME_ETX;
    o[k++] = lrc;
    return EVC_OK;
}

int evc_frame_encode_alloc(const char *opcode, const evc_frame_field *fields, size_t nfields,
                           char **out, size_t *out_len, evc_error *err)
{
    if (!out || !out_len)
        return evc_error_set(err, EVC_EINVAL, "frame encode: NULL argument");
    *out = NULL;
    size_t need = evc_frame_encoded_size(opcode, fields, nfields);
    if (need == 0)
        return evc_frame_encode(opcode, fields, nfields, NULL, 0, out_len, err);
    char *buf = malloc(need);
    if (!buf)
        return evc_error_set(err, EVC_ENOMEM, "frame encode: out of memory for %zu bytes", need);
    int rc = evc_frame_encode(opcode, fields, nfields, buf, need, out_len, err);
    if (rc != EVC_OK) {
        free(buf);
        return rc;
    }
    *out = buf;
    return EVC_OK;
}
