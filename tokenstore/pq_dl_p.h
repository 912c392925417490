/*
 * pq_dl_p.h - libpq through a table filled when a postgresql:// store is
 * first opened (pq_dl.c). store_pg.c includes this instead of
 * <libpq-fe.h>: the PQ* names it uses become calls through the table, so a
 * program with a file store (nearly all of them) never maps libpq and the
 * Kerberos, LDAP and TLS libraries it pulls in.
 */
#ifndef PQ_DL_P_H
#define PQ_DL_P_H

#include <libpq-fe.h>

#include "tokenstore.h"

#define PQ_DL_FUNCS(X) \
	X(PQconnectdbParams) X(PQfinish) X(PQreset) X(PQstatus) X(PQerrorMessage) \
	X(PQexec) X(PQexecParams) X(PQresultStatus) X(PQresultErrorMessage) \
	X(PQresultErrorField) X(PQntuples) X(PQgetvalue) X(PQgetlength) X(PQgetisnull) \
	X(PQclear) X(PQfreemem) X(PQconninfoParse) X(PQconninfoFree) X(PQsetNoticeProcessor)

struct ts_pq_api {
#define PQ_DL_MEMBER(f) __typeof__(f) *p_##f;
	PQ_DL_FUNCS(PQ_DL_MEMBER)
#undef PQ_DL_MEMBER
};

extern struct ts_pq_api ts_pq;

/* Load libpq once (thread-safe). TS_OK, or TS_ERR saying why and what to do;
 * until it succeeds the table must not be used. */
int ts_pq_load(ts_error *err);

/* pq_dl.c fills the table and needs the real names. */
#ifndef PQ_DL_NO_RENAME
#define PQconnectdbParams ts_pq.p_PQconnectdbParams
#define PQfinish ts_pq.p_PQfinish
#define PQreset ts_pq.p_PQreset
#define PQstatus ts_pq.p_PQstatus
#define PQerrorMessage ts_pq.p_PQerrorMessage
#define PQexec ts_pq.p_PQexec
#define PQexecParams ts_pq.p_PQexecParams
#define PQresultStatus ts_pq.p_PQresultStatus
#define PQresultErrorMessage ts_pq.p_PQresultErrorMessage
#define PQresultErrorField ts_pq.p_PQresultErrorField
#define PQntuples ts_pq.p_PQntuples
#define PQgetvalue ts_pq.p_PQgetvalue
#define PQgetlength ts_pq.p_PQgetlength
#define PQgetisnull ts_pq.p_PQgetisnull
#define PQclear ts_pq.p_PQclear
#define PQfreemem ts_pq.p_PQfreemem
#define PQconninfoParse ts_pq.p_PQconninfoParse
#define PQconninfoFree ts_pq.p_PQconninfoFree
#define PQsetNoticeProcessor ts_pq.p_PQsetNoticeProcessor
#endif

#endif /* PQ_DL_P_H */
