/*
 * test/fault_shim.c: an LD_PRELOAD library for test/t/095_faults.pl. It makes chosen system calls
 * fail in a server started with it, as the first word of the file named by PG_TFM_FAULT_FILE says
 * (read at each call, so a test switches faults without a restart):
 *   enospc   write() to a temporary pg_tfm cache file fails with ENOSPC (disk full)
 *   eio      the same with EIO
 *   corrupt  the first byte written to a temporary pg_tfm cache file is flipped
 *   noblas   dlopen() of OpenBLAS looks in a directory that does not exist
 * anything else, or no file: no fault. Only pg_tfm's cache files and OpenBLAS are touched.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* the current fault: the first word of the mode file, "" when there is none */
static void
fault_mode(char *buf, size_t size)
{
	const char *f = getenv("PG_TFM_FAULT_FILE");
	int			fd;
	ssize_t		n;

	buf[0] = '\0';
	if (f == NULL || (fd = open(f, O_RDONLY)) < 0)
		return;
	n = read(fd, buf, size - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	buf[strcspn(buf, " \t\n")] = '\0';
}

/* whether fd is a cache file pg_tfm is writing (<dir>/pg_tfm/<name>.bin.tmp.<pid>) */
static int
is_cache_tmp(int fd)
{
	char		link[64], path[4096];
	ssize_t		n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof(path) - 1);
	if (n < 0)
		return 0;
	path[n] = '\0';
	return strstr(path, "/pg_tfm/") != NULL && strstr(path, ".tmp.") != NULL;
}

/* write(2), failing or corrupting writes of cache files when the mode says so */
ssize_t
write(int fd, const void *buf, size_t count)
{
	static ssize_t (*real_write) (int, const void *, size_t);
	char		mode[32];

	if (real_write == NULL)
		real_write = (ssize_t (*) (int, const void *, size_t)) dlsym(RTLD_NEXT, "write");
	if (count > 0 && is_cache_tmp(fd))
	{
		fault_mode(mode, sizeof(mode));
		if (strcmp(mode, "enospc") == 0 || strcmp(mode, "eio") == 0)
		{
			errno = strcmp(mode, "enospc") == 0 ? ENOSPC : EIO;
			return -1;
		}
		if (strcmp(mode, "corrupt") == 0 && lseek(fd, 0, SEEK_CUR) == 0)
		{
			char	   *copy = malloc(count);
			ssize_t		n;

			if (copy == NULL)
			{
				errno = ENOMEM;
				return -1;
			}
			memcpy(copy, buf, count);
			copy[0] ^= 0x5a;
			n = real_write(fd, copy, count);
			free(copy);
			return n;
		}
	}
	return real_write(fd, buf, count);
}

/* dlopen(3), sending OpenBLAS to a directory that does not exist when the mode says so */
void *
dlopen(const char *file, int flags)
{
	static void *(*real_dlopen) (const char *, int);
	char		mode[32];

	if (real_dlopen == NULL)
		real_dlopen = (void *(*) (const char *, int)) dlsym(RTLD_NEXT, "dlopen");
	if (file != NULL && strstr(file, "openblas") != NULL)
	{
		fault_mode(mode, sizeof(mode));
		if (strcmp(mode, "noblas") == 0)
			return real_dlopen("/nonexistent/pg_tfm-fault/libopenblas.so.0", flags);
	}
	return real_dlopen(file, flags);
}
