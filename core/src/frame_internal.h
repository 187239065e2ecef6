/* frame_internal.h: byte classes shared by the frame encoder and decoder. */
#ifndef EVC_FRAME_INTERNAL_H
#define EVC_FRAME_INTERNAL_H

#include "evc/frame.h"

static inline int evc_frame_opcode_byte(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* The second byte of the escape of c, or 0 when c goes as is. */
static inline unsigned char evc_frame_escape_of(unsigned char c)
{
    switch (c) {
    case EVC_FRAME_SEP: return EVC_FRAME_SEP;
    case EVC_FRAME_ESC: return EVC_FRAME_ESC;
    case EVC_FRAME_STX: return 'B';
    case EVC_FRAME_ETX: return 'C';
    case EVC_FRAME_ACK: return 'F';
    case EVC_FRAME_NACK: return 'U';
    default: return 0;
    }
}

/* The byte an escape "\e" stands for; -1 when e is not in the table. */
static inline int evc_frame_unescape(unsigned char e)
{
    switch (e) {
    case EVC_FRAME_SEP: return EVC_FRAME_SEP;
    case EVC_FRAME_ESC: return EVC_FRAME_ESC;
    case 'B': return EVC_FRAME_STX;
    case 'C': return EVC_FRAME_ETX;
    case 'F': return EVC_FRAME_ACK;
    case 'U': return EVC_FRAME_NACK;
    default: return -1;
    }
}

#endif
