/* evc/api.h: EVC_API, the mark of every function libevc_core exports.
 *
 * libevc_core is built with -fvisibility=hidden, so a function leaves the
 * library only when its declaration in an installed header carries EVC_API.
 * Internal helpers shared between core/src files stay out of the dynamic
 * symbol table: plugins and programs cannot come to depend on them, and the
 * test unit_core_exports checks with `nm -D` that nothing else leaks.
 */
#ifndef EVC_API_H
#define EVC_API_H

#if defined(__GNUC__) || defined(__clang__)
#define EVC_API __attribute__((visibility("default")))
#else
#define EVC_API
#endif

#endif
