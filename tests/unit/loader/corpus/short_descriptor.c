/* short_descriptor: a descriptor that stops after the fixed header (what a
 * plugin built against a broken or hand-rolled header might return). It is
 * really this short: it sits at the very end of a readable page, followed by
 * an inaccessible one, so a loader that read past struct_size would see
 * unreadable memory and report that instead of "too short". */
#include <stddef.h>
#include <sys/mman.h>
#include <unistd.h>

#include "corpus.h"

EVC_PLUGIN_EXPORT const evc_plugin_descriptor *EVC_PLUGIN_ENTRY(uint16_t major, uint16_t minor);

struct header_only {
    uint32_t magic;
    uint16_t abi_major;
    uint16_t abi_minor;
    uint32_t struct_size;
};

static const struct header_only header = {
    .magic = EVC_PLUGIN_MAGIC,
    .abi_major = EVC_ABI_MAJOR,
    .abi_minor = EVC_ABI_MINOR,
    .struct_size = sizeof(struct header_only),
};

static void *pages;
static size_t pages_len;

__attribute__((destructor)) static void short_descriptor_release(void)
{
    if (pages != NULL)
        munmap(pages, pages_len);
}

EVC_PLUGIN_EXPORT const evc_plugin_descriptor *EVC_PLUGIN_ENTRY(uint16_t major, uint16_t minor)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    if (pages == NULL) {
        void *p = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            return NULL;
        if (mprotect((char *)p + page, page, PROT_NONE) != 0) {
            munmap(p, 2 * page);
            return NULL;
        }
        pages = p;
        pages_len = 2 * page;
        *(struct header_only *)(void *)((char *)pages + page - sizeof header) = header;
    }
    return (const evc_plugin_descriptor *)(const void *)((char *)pages + page - sizeof header);
}
