/* version.c */
#include "evc/version.h"

const char *evc_version(void) { return EVC_VERSION_STRING; }
