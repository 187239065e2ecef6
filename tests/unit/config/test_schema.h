/* test_schema.h: the schema the corpus is validated against, and helpers
 * shared by the config test files. */
#ifndef EVC_TEST_CONFIG_SCHEMA_H
#define EVC_TEST_CONFIG_SCHEMA_H

#include <stddef.h>

#include "evc/config.h"

extern const evc_cfg_field test_root_schema[];

/* Collects validation problems as one string, each line ending in '\n'. */
typedef struct problems {
    char text[16384];
    size_t len;
    size_t calls;
} problems;

void problems_collect(void *arg, const char *msg);

#endif
