/*
 * catalog.h: every SQL statement on tfm.model, tfm.model_acl and tfm.model_data (cachefile.c reads the
 * weight chunks itself). Callers are connected to SPI and, for anything but TfmCatalogRelid and the
 * schema checks, run as the extension owner (acl.h's TfmAsOwnerBegin); what a function returns lives in
 * the SPI procedure's memory until SPI_finish.
 */
#ifndef TFM_CATALOG_H
#define TFM_CATALOG_H

#include "postgres.h"

#include "utils/jsonb.h"

/* who may use a model: the owner of its newest version, PUBLIC, the grantees (oid[] or null) */
typedef struct TfmModelAcl
{
	Oid			owner;			/* InvalidOid for a 0.1.0 owner name no role has */
	bool		public_usage;
	Datum		grantees;
	bool		grantees_null;
} TfmModelAcl;

/* the newest version of a model as the cache reads it, with its encoder's row (its own if none) */
typedef struct TfmModelRow
{
	int64		id;
	int32		version;
	const char *task;
	const char *sha256;
	Jsonb	   *options;
	char	  **labels;			/* nlabels class names, or NULL */
	int			nlabels;
	bytea	   *head;			/* or NULL */
	int64		encoder_id;		/* the version whose weights the encoder uses */
	const char *enc_sha256;
	const char *architecture;	/* the encoder version's */
	Jsonb	   *config;			/* the encoder version's */
	const char *cache_key;		/* the encoder version's cache_key */
	int64	   *alive;			/* of the ids passed to TfmCatalogModelRow, those that still exist */
	int			nalive;
	TfmModelAcl acl;
} TfmModelRow;

/* a new version of a model, for TfmCatalogInsert */
typedef struct TfmNewVersion
{
	const char *name;
	int64		from_id;		/* > 0: architecture, dim, config, tokenizer are this version's, params add to its */
	const char *architecture;	/* else these four */
	int			dim;
	Jsonb	   *config, *tokenizer;
	const char *task;
	char	  **labels;			/* nlabels class names, or NULL */
	int			nlabels;
	int			max_tokens;
	int64		params;
	const char *sha256;
	Jsonb	   *options, *metrics, *training;	/* metrics and training may be NULL */
	int64		base_id, encoder_id;	/* 0: NULL */
	const void *head;			/* head_bytes bytes (bytea), or NULL */
	size_t		head_bytes;
	const char *weights;		/* the version's safetensors bytes for tfm.model_data, or NULL */
	uint64		wsize;
} TfmNewVersion;

/* tfm.model_data holds a version's weights in chunks of this many bytes */
#define TFM_CHUNK_BYTES (16 * 1024 * 1024)

/* the role oids of the marker views: who owns models, who holds grants (acl.c's sync_marker) */
#define TFM_SQL_MODEL_OWNERS "SELECT m.owner FROM tfm.model m"
#define TFM_SQL_MODEL_GRANTEES "SELECT pg_catalog.unnest(a.grantees) FROM tfm.model_acl a"

extern Oid	TfmCatalogRelid(void);
extern bool TfmAclReady(void);
extern bool TfmCatalogOwnerIsOid(void);

extern bool TfmCatalogModelRow(TfmModelRow *r, const char *name, const int64 *cached, int ncached);
extern bool TfmCatalogOwner(const char *name, Oid *owner);
extern bool TfmCatalogAcl(const char *name, TfmModelAcl *acl);
extern Oid *TfmCatalogOwners(const char *name, int *n);

extern int64 TfmCatalogInsert(const TfmNewVersion *v, Oid owner);
extern void TfmCatalogStoreChunks(int64 id, const char *weights, uint64 wsize);

extern char *TfmCatalogDependents(const char *name, Oid me, bool *foreign);
extern char **TfmCatalogDependentList(const char *name, char ***owners, int *n);
extern int64 *TfmCatalogDelete(const char *name, int *n);

extern void TfmCatalogForgetRights(const char *name);
extern void TfmCatalogSetUsage(const char *name, Oid roleid, bool grant);
extern void TfmCatalogOrphansToOwner(void);
extern void TfmCatalogForgetDroppedGrantees(void);
extern uint64 TfmCatalogReassign(Oid from, Oid to);

#endif
