/*
 * asan_initfirst.c - a preload for sanitizer builds that makes the ASan
 * runtime initialize before any other code of an uninstrumented host
 * program (imtest, pop3test, smtptest, Postfix) runs.
 *
 * Why: the plugin of a sanitizer build needs libasan preloaded into the
 * programs that dlopen it. A preloaded library's constructors run after
 * those of the program's own libraries, so ASan initializes lazily, on the
 * first call it intercepts. In the Cyrus clients that is the malloc inside
 * newlocale() called by libp11-kit's constructor while it holds glibc's
 * locale lock for writing; ASan's initialization calls dlerror(), which
 * translates its message and takes the same lock for reading. glibc
 * refuses that read lock (EDEADLK, ignored) but the matching unlock
 * releases the write lock, and newlocale's own unlock then drives the
 * reader count to -1. From then on every writer of that lock (json-c's
 * newlocale in each parse, p11-kit's freelocale at exit) waits forever.
 *
 * This object is linked with -z initfirst, so ld.so runs its constructor
 * before every other one; the allocation below brings ASan up there, with
 * no lock held, as an instrumented executable's preinit_array would.
 */
#include <stdlib.h>

__attribute__((constructor)) static void asan_initfirst(void)
{
	void *volatile p = malloc(1);

	free(p);
}
