/* pg_tfm.h: module-wide settings (GUCs) */
#ifndef PG_TFM_H
#define PG_TFM_H

extern char *tfm_default_model;
extern int	tfm_blas_threads;
extern int	tfm_verify_cache;
extern int	tfm_max_memory;			/* MB, -1 = no limit */
extern int	tfm_cpu_features;		/* TfmCpuLevel cap (kernels/cpu.h) */

/*
 * default pg_tfm.max_memory: 2 GB is 2.5x the peak of the heaviest shipped workload (full
 * fine-tuning of MiniLM, 825 MB), so no normal call meets it, while one runaway statement (a
 * million-element bulk array, a training query over a huge table) stops with an error long before
 * it could take a large share of a server's RAM and invite the OOM killer
 */
#define TFM_MAX_MEMORY_DEFAULT 2048

extern void TfmCheckMemory(double bytes, const char *what);

#endif
