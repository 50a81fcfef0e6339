/* asan_boot.c: preloaded after libasan; initialises ASan before the first bindtextdomain */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>

char *bindtextdomain(const char *domain, const char *dir);

/*
 * A library constructor (libgpg-error's) calls bindtextdomain before the preloaded ASan runtime
 * has run its own; the malloc inside glibc's gettext lock then initialises ASan, whose dlerror()
 * takes and drops that same lock, and the next bindtextdomain waits forever. Initialising ASan
 * here, before the lock is taken, avoids that.
 */
char *
bindtextdomain(const char *domain, const char *dir)
{
	static char *(*real)(const char *, const char *);

	if (real == NULL)
	{
		void (*asan_init)(void) = (void (*)(void)) dlsym(RTLD_DEFAULT, "__asan_init");

		if (asan_init)
			asan_init();
		real = (char *(*)(const char *, const char *)) dlsym(RTLD_NEXT, "bindtextdomain");
	}
	return real(domain, dir);
}
