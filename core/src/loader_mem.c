/* loader_mem.c: reading memory that a plugin points us at, without faulting.
 *
 * The descriptor pointer, its name string and its ops pointer all come from
 * the plugin. A stale or foreign .so may hand back anything; the loader must
 * refuse it with a message, not die of SIGSEGV. process_vm_readv on our own
 * pid copies memory through the kernel, which reports EFAULT for unmapped or
 * unreadable addresses instead of signalling. Where that syscall is denied
 * (some seccomp profiles), a pipe does the same job: write(2) from a bad
 * buffer fails with EFAULT too. */
#include "loader_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

/* Largest read done through the pipe fallback: well under the pipe buffer so
 * that write(2) never blocks. */
#define PIPE_CHUNK 512

static bool copy_via_pipe(void *dst, const void *src, size_t n)
{
    int fd[2];
    if (pipe2(fd, O_CLOEXEC) != 0)
        return false;
    bool ok = true;
    size_t done = 0;
    while (ok && done < n) {
        size_t chunk = n - done < PIPE_CHUNK ? n - done : PIPE_CHUNK;
        ssize_t w = write(fd[1], (const char *)src + done, chunk);
        if (w <= 0) {
            ok = false;
            break;
        }
        size_t got = 0;
        while (got < (size_t)w) {
            ssize_t r = read(fd[0], (char *)dst + done + got, (size_t)w - got);
            if (r <= 0) {
                ok = false;
                break;
            }
            got += (size_t)r;
        }
        done += (size_t)w;
    }
    close(fd[0]);
    close(fd[1]);
    return ok;
}

bool evc_loader_copy_mem(void *dst, const void *src, size_t n)
{
    if (n == 0)
        return true;
    if (src == NULL || (uintptr_t)src + n < (uintptr_t)src)
        return false;
    struct iovec local = {.iov_base = dst, .iov_len = n};
    struct iovec remote = {.iov_base = (void *)(uintptr_t)src, .iov_len = n};
    ssize_t r = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
    if (r == (ssize_t)n)
        return true;
    if (r >= 0 || errno == EFAULT || errno == ENOMEM)
        return false; /* partial read: the range ends in unmapped memory */
    return copy_via_pipe(dst, src, n); /* ENOSYS / EPERM: syscall unavailable */
}

bool evc_loader_copy_str(char *dst, size_t cap, const char *src)
{
    long page = sysconf(_SC_PAGESIZE);
    if (page <= 0)
        page = 4096;
    size_t n = 0;
    while (n + 1 < cap) {
        /* Never read across a page boundary in one go: the string may end
         * just before an unmapped page. */
        uintptr_t at = (uintptr_t)(src + n);
        size_t to_page_end = (size_t)page - (size_t)(at % (uintptr_t)page);
        size_t want = cap - 1 - n;
        if (want > to_page_end)
            want = to_page_end;
        if (!evc_loader_copy_mem(dst + n, src + n, want))
            return false;
        void *nul = memchr(dst + n, '\0', want);
        if (nul)
            return true;
        n += want;
    }
    dst[cap - 1] = '\0';
    return false;
}
