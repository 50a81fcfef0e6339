/*
 * tiles.h - calling a SIMD tile with its row count (and panel count) as constants
 *
 * Each case passes literal constants, so the compiler unrolls the tile's
 * loops for that shape: T is a macro naming the tile call.
 */
#ifndef TFM_KERNELS_TILES_H
#define TFM_KERNELS_TILES_H

/* T(mr) for MR rows, 1 to 5 */
#define TFM_TILE_ROWS5(MR, T) \
	switch (MR) \
	{ \
		case 5: T(5); break; case 4: T(4); break; case 3: T(3); break; case 2: T(2); break; \
		default: T(1); break; \
	}

/* T(mr) for MR rows, 1 to 6 */
#define TFM_TILE_ROWS6(MR, T) \
	switch (MR) \
	{ \
		case 6: T(6); break; case 5: T(5); break; case 4: T(4); break; \
		case 3: T(3); break; case 2: T(2); break; default: T(1); break; \
	}

/* T(mr, np) for MR rows, 1 to 12, and np panels */
#define TFM_TILE_ROWS12(MR, np, T) \
	switch (MR) \
	{ \
		case 12: T(12, np); break; case 11: T(11, np); break; case 10: T(10, np); break; \
		case 9: T(9, np); break; case 8: T(8, np); break; case 7: T(7, np); break; \
		case 6: T(6, np); break; case 5: T(5, np); break; case 4: T(4, np); break; \
		case 3: T(3, np); break; case 2: T(2, np); break; default: T(1, np); break; \
	}

/* T(mr, np) for MR rows, 1 to 12, against two panels of 16 columns when cols > 16, else one */
#define TFM_TILE_ROWS12_PANELS(MR, cols, T) \
	do { \
		if ((cols) > 16) \
			TFM_TILE_ROWS12(MR, 2, T) \
		else \
			TFM_TILE_ROWS12(MR, 1, T) \
	} while (0)

#endif
