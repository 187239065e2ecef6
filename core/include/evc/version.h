/* evc/version.h: the product version, shared by every program and plugin. */
#ifndef EVC_VERSION_H
#define EVC_VERSION_H

#define EVC_VERSION_STRING "0.1.0"

#ifdef __cplusplus
extern "C" {
#endif

/* "0.1.0"; never NULL. */
const char *evc_version(void);

#ifdef __cplusplus
}
#endif
#endif
