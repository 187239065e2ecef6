/* config_pos.c: printing config positions. */
#include <stdio.h>

#include "evc/config.h"

char *evc_cfg_pos_format(evc_cfg_pos pos, char *buf, size_t cap)
{
    const char *file = pos.file ? pos.file : "<config>";
    if (pos.line == 0)
        snprintf(buf, cap, "%s", file);
    else
        snprintf(buf, cap, "%s:%u:%u", file, pos.line, pos.column);
    return buf;
}
