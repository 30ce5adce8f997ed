/*
 * malloc_count.c - LD_PRELOAD shim that counts heap calls.
 *
 *   cc -shared -fPIC -o malloc_count.so tests/malloc_count.c -ldl
 *   MALLOC_COUNT_OUT=counts.txt LD_PRELOAD=./malloc_count.so ./grpcstream ...
 *
 * Counts calls to malloc, calloc, realloc (and reallocarray), free, and the
 * aligned allocators posix_memalign, aligned_alloc, memalign, valloc and
 * pvalloc ("other"), forwarding each to the next definition found with
 * dlsym(RTLD_NEXT).  At process exit (a destructor, so after atexit
 * handlers; not on _exit() or a fatal signal) it appends one line
 *
 *   malloc_count: malloc=N calloc=N realloc=N free=N other=N
 *
 * to the file named by MALLOC_COUNT_OUT (created if missing; appended so
 * that several processes sharing the variable each leave their line), or to
 * stderr if it is unset or cannot be opened.  free(NULL) is counted too:
 * it is a call.
 *
 * Counting starts in this library's constructor.  The dynamic loader runs
 * the constructors of preloaded libraries after libc's own initialisation
 * and before the program's, so on glibc the count covers the program's
 * constructors (a C99 program has none) and main onwards.  Heap calls made
 * before that (by libc start-up or the loader; normally none on glibc) are
 * not counted, but MALLOC_COUNT_ALL=1 (checked in the constructor) adds
 * them, so the difference shows what start-up did.
 *
 * dlsym itself may call calloc/malloc (glibc allocates its error buffer),
 * before the real functions are known: such calls are served from a small
 * static bootstrap arena, never counted, and never passed to the real free.
 *
 * MALLOC_COUNT_AFTER=accept (checked in the constructor) leaves start-up
 * out: the counts start again at the first call to accept() or accept4(),
 * which this library then also interposes (forwarding each call, as
 * above).  For a server that is the end of start-up: everything before
 * its first connection (parsing, set-up, bind, listen) is start-up.  The
 * line then goes on, after the usual fields, with
 *
 *   after=accept fired=F startup: malloc=N calloc=N realloc=N free=N other=N
 *
 * where F is 1 if accept was called (the first fields count from then; the
 * start-up ones, up to then) and 0 if it never was or the value is not
 * one this library knows (the first fields then count from the start, as
 * without the variable, and the start-up ones are 0), so a checker must
 * see fired=1 before it trusts the split.  Without the variable the line
 * is exactly as above.
 *
 * Counters are updated with __atomic builtins (gcc, clang) so threads do
 * not lose counts.
 */
#define _GNU_SOURCE /* RTLD_NEXT */

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Declared here: not every libc's headers declare all of them. */
void *memalign(size_t alignment, size_t size);
void *valloc(size_t size);
void *pvalloc(size_t size);
void *reallocarray(void *ptr, size_t nmemb, size_t size);
/* <sys/socket.h> is left out: with _GNU_SOURCE glibc declares accept()
 * with a transparent union, which an ISO C definition cannot match. The
 * address and its length are passed through untouched, so plain pointers
 * do (socklen_t * becomes void *; the calling convention is the same). */
struct sockaddr;
int accept(int fd, struct sockaddr *addr, void *len);
int accept4(int fd, struct sockaddr *addr, void *len, int flags);

enum { MC_MALLOC, MC_CALLOC, MC_REALLOC, MC_FREE, MC_OTHER, MC_N };

static unsigned long mc_count[MC_N];     /* counted calls */
static unsigned long mc_early[MC_N];     /* calls before the constructor */
static int mc_counting;                  /* set by the constructor */
static int mc_after_accept;              /* MALLOC_COUNT_AFTER=accept */
static int mc_fired;                     /* ...and accept was called */
static unsigned long mc_startup[MC_N];   /* counted calls before it was */

#if defined(__GNUC__)
#define MC_ADD(p) __atomic_fetch_add((p), 1UL, __ATOMIC_RELAXED)
#else
#define MC_ADD(p) (++*(p))
#endif

static void mc_note(int kind)
{
    if (mc_counting)
        MC_ADD(&mc_count[kind]);
    else
        MC_ADD(&mc_early[kind]);
}

/* ---- the real functions ------------------------------------------------ */

static void *(*real_malloc)(size_t);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);
static void (*real_free)(void *);
static int (*real_posix_memalign)(void **, size_t, size_t);
static void *(*real_aligned_alloc)(size_t, size_t);
static void *(*real_memalign)(size_t, size_t);
static void *(*real_valloc)(size_t);
static void *(*real_pvalloc)(size_t);
static void *(*real_reallocarray)(void *, size_t, size_t);
static int (*real_accept)(int, struct sockaddr *, void *);
static int (*real_accept4)(int, struct sockaddr *, void *, int);

static int mc_resolving;

/* ---- bootstrap arena for allocations made inside dlsym ------------------ */

#define MC_BOOT_SIZE 16384
static union {
    long double ld; /* alignment (C99 has no max_align_t) */
    long long ll;
    void *vp;
    unsigned char bytes[MC_BOOT_SIZE];
} mc_boot;
static size_t mc_boot_used;

static int mc_is_boot(const void *p)
{
    const unsigned char *c = p;
    return c >= mc_boot.bytes && c < mc_boot.bytes + MC_BOOT_SIZE;
}

/* mc_boot_alloc hands out zeroed, 16-byte aligned memory from the arena,
 * with its size stored in the 16 bytes before it (for realloc). */
static void *mc_boot_alloc(size_t n)
{
    size_t need = 16 + ((n + 15) & ~(size_t)15);
    unsigned char *p;
    if (n > MC_BOOT_SIZE || need > MC_BOOT_SIZE - mc_boot_used) {
        errno = ENOMEM;
        return NULL;
    }
    p = mc_boot.bytes + mc_boot_used;
    mc_boot_used += need;
    memcpy(p, &n, sizeof n);
    return p + 16;
}

static size_t mc_boot_size(const void *p)
{
    size_t n;
    memcpy(&n, (const unsigned char *)p - 16, sizeof n);
    return n;
}

#define MC_SYM(var, name) \
    (*(void **)(&(var)) = dlsym(RTLD_NEXT, name))

static void mc_resolve(void)
{
    if (real_malloc != NULL || mc_resolving)
        return;
    mc_resolving = 1;
    MC_SYM(real_calloc, "calloc");
    MC_SYM(real_realloc, "realloc");
    MC_SYM(real_free, "free");
    MC_SYM(real_posix_memalign, "posix_memalign");
    MC_SYM(real_aligned_alloc, "aligned_alloc");
    MC_SYM(real_memalign, "memalign");
    MC_SYM(real_valloc, "valloc");
    MC_SYM(real_pvalloc, "pvalloc");
    MC_SYM(real_reallocarray, "reallocarray");
    MC_SYM(real_accept, "accept");
    MC_SYM(real_accept4, "accept4");
    MC_SYM(real_malloc, "malloc"); /* last: it marks "all resolved" */
    mc_resolving = 0;
    if (real_malloc == NULL || real_calloc == NULL || real_realloc == NULL ||
        real_free == NULL) {
        static const char msg[] = "malloc_count: cannot find libc malloc\n";
        ssize_t w = write(2, msg, sizeof msg - 1);
        (void)w;
        _exit(127);
    }
}

/* ---- the interposed functions ------------------------------------------ */

void *malloc(size_t n)
{
    if (real_malloc == NULL) {
        if (mc_resolving)
            return mc_boot_alloc(n);
        mc_resolve();
    }
    mc_note(MC_MALLOC);
    return real_malloc(n);
}

void *calloc(size_t k, size_t n)
{
    if (real_malloc == NULL) {
        if (mc_resolving) {
            if (n != 0 && k > (size_t)-1 / n) {
                errno = ENOMEM;
                return NULL;
            }
            return mc_boot_alloc(k * n); /* static storage: already zero */
        }
        mc_resolve();
    }
    mc_note(MC_CALLOC);
    return real_calloc(k, n);
}

void *realloc(void *p, size_t n)
{
    if (real_malloc == NULL) {
        if (mc_resolving) {
            void *q = mc_boot_alloc(n);
            if (q != NULL && p != NULL) {
                size_t old = mc_boot_size(p);
                memcpy(q, p, old < n ? old : n);
            }
            return q;
        }
        mc_resolve();
    }
    mc_note(MC_REALLOC);
    if (p != NULL && mc_is_boot(p)) { /* move it out of the arena */
        size_t old = mc_boot_size(p);
        void *q = real_malloc(n);
        if (q != NULL)
            memcpy(q, p, old < n ? old : n);
        return q;
    }
    return real_realloc(p, n);
}

void *reallocarray(void *p, size_t k, size_t n)
{
    if (n != 0 && k > (size_t)-1 / n) {
        errno = ENOMEM;
        return NULL;
    }
    if (real_malloc == NULL || real_reallocarray == NULL ||
        (p != NULL && mc_is_boot(p)))
        return realloc(p, k * n); /* counted there */
    mc_note(MC_REALLOC);
    return real_reallocarray(p, k, n);
}

void free(void *p)
{
    if (p != NULL && mc_is_boot(p))
        return; /* arena memory is never given back */
    if (real_malloc == NULL) {
        if (mc_resolving)
            return; /* cannot happen for non-arena memory */
        mc_resolve();
    }
    mc_note(MC_FREE);
    real_free(p);
}

int posix_memalign(void **out, size_t align, size_t n)
{
    mc_resolve();
    mc_note(MC_OTHER);
    return real_posix_memalign(out, align, n);
}

void *aligned_alloc(size_t align, size_t n)
{
    mc_resolve();
    mc_note(MC_OTHER);
    return real_aligned_alloc(align, n);
}

void *memalign(size_t align, size_t n)
{
    mc_resolve();
    mc_note(MC_OTHER);
    return real_memalign(align, n);
}

void *valloc(size_t n)
{
    mc_resolve();
    mc_note(MC_OTHER);
    return real_valloc(n);
}

void *pvalloc(size_t n)
{
    mc_resolve();
    mc_note(MC_OTHER);
    return real_pvalloc(n);
}

/* ---- the end of start-up (MALLOC_COUNT_AFTER=accept) -------------------- */

/* The first accept moves the counts so far to mc_startup; the counting
 * goes on from 0. */
static void mc_accept_called(void)
{
    int k;
    if (!mc_after_accept)
        return;
#if defined(__GNUC__)
    if (__atomic_exchange_n(&mc_fired, 1, __ATOMIC_ACQ_REL))
        return;
    for (k = 0; k < MC_N; k++)
        mc_startup[k] = __atomic_exchange_n(&mc_count[k], 0UL, __ATOMIC_RELAXED);
#else
    if (mc_fired)
        return;
    mc_fired = 1;
    for (k = 0; k < MC_N; k++) {
        mc_startup[k] = mc_count[k];
        mc_count[k] = 0;
    }
#endif
}

int accept(int fd, struct sockaddr *addr, void *len)
{
    mc_resolve();
    mc_accept_called();
    if (real_accept == NULL) {
        errno = ENOSYS;
        return -1;
    }
    return real_accept(fd, addr, len);
}

int accept4(int fd, struct sockaddr *addr, void *len, int flags)
{
    mc_resolve();
    mc_accept_called();
    if (real_accept4 == NULL) {
        errno = ENOSYS;
        return -1;
    }
    return real_accept4(fd, addr, len, flags);
}

/* ---- start and report --------------------------------------------------- */

static int mc_report_split; /* MALLOC_COUNT_AFTER set: report the split */

__attribute__((constructor)) static void mc_start(void)
{
    const char *all = getenv("MALLOC_COUNT_ALL");
    const char *after = getenv("MALLOC_COUNT_AFTER");
    int k;
    mc_resolve();
    if (after != NULL && *after != '\0') {
        mc_after_accept = strcmp(after, "accept") == 0;
        mc_fired = 0;
        mc_report_split = 1;
    }
    if (all != NULL && strcmp(all, "1") == 0)
        for (k = 0; k < MC_N; k++)
            mc_count[k] = mc_early[k];
    mc_counting = 1;
}

__attribute__((destructor)) static void mc_report(void)
{
    char line[400];
    const char *path = getenv("MALLOC_COUNT_OUT");
    int fd = -1, len;
    unsigned long c[MC_N], s[MC_N];
    int k;

    for (k = 0; k < MC_N; k++) { /* snapshot before we do anything else */
        c[k] = mc_count[k];
        s[k] = mc_startup[k];
    }
    if (mc_report_split)
        len = snprintf(line, sizeof line,
                       "malloc_count: malloc=%lu calloc=%lu realloc=%lu "
                       "free=%lu other=%lu after=accept fired=%d startup: "
                       "malloc=%lu calloc=%lu realloc=%lu free=%lu other=%lu\n",
                       c[MC_MALLOC], c[MC_CALLOC], c[MC_REALLOC], c[MC_FREE],
                       c[MC_OTHER], mc_fired ? 1 : 0, s[MC_MALLOC],
                       s[MC_CALLOC], s[MC_REALLOC], s[MC_FREE], s[MC_OTHER]);
    else
        len = snprintf(line, sizeof line,
                       "malloc_count: malloc=%lu calloc=%lu realloc=%lu "
                       "free=%lu other=%lu\n",
                       c[MC_MALLOC], c[MC_CALLOC], c[MC_REALLOC], c[MC_FREE],
                       c[MC_OTHER]);
    if (len < 0)
        return;
    if ((size_t)len >= sizeof line)
        len = (int)sizeof line - 1;
    if (path != NULL && *path != '\0')
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0) {
        ssize_t w = write(2, line, (size_t)len);
        (void)w;
        return;
    }
    {
        ssize_t w = write(fd, line, (size_t)len);
        (void)w;
    }
    close(fd);
}
