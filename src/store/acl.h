/* acl.h: per-model usage rights, model ownership, catalog access with the extension owner's rights */
#ifndef TFM_ACL_H
#define TFM_ACL_H

#include "postgres.h"

/* what TfmAsOwnerBegin saved: restored by TfmAsOwnerEnd, or by the (sub)transaction abort on error */
typedef struct TfmOwnerScope
{
	Oid			user;			/* the caller */
	int			sec;
	int			nest;			/* GUC nest level holding search_path */
} TfmOwnerScope;

extern int	TfmSafePathBegin(void);
extern void TfmSafePathEnd(int nest);
extern void TfmAsOwnerBegin(TfmOwnerScope *s);
extern void TfmAsOwnerEnd(TfmOwnerScope *s);
extern bool TfmIsModelOwner(Oid roleid, Oid owner);
extern void TfmCheckUsage(Oid roleid, const char *name, Oid owner, bool public_usage,
						  Datum grantees, bool grantees_null);
extern Oid	TfmCheckCreate(const char *name);
extern const char *TfmRoleName(Oid roleid);
extern void TfmSyncRoleMarkers(void);

#endif
