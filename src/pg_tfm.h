/* pg_tfm.h: module-wide settings (GUCs) */
#ifndef PG_TFM_H
#define PG_TFM_H

extern char *tfm_default_model;
extern int	tfm_blas_threads;
extern int	tfm_verify_cache;

#endif
