/* bench.h - what the C benchmarks under test/bench share: a clock and a filled buffer */
#ifndef TFM_BENCH_H
#define TFM_BENCH_H

#include <stdlib.h>
#include <time.h>

/* seconds of a clock: CLOCK_MONOTONIC (wall) or CLOCK_THREAD_CPUTIME_ID (robust under other load) */
static inline double
bench_seconds(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* a buffer of n floats with values in [-0.5, 0.5) */
static inline float *
bench_buf(size_t n)
{
	float	   *p = malloc(n * sizeof(float));

	for (size_t i = 0; i < n; i++)
		p[i] = (float) ((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
	return p;
}

#endif
