/*-------------------------------------------------------------------------
 * token.h
 *	  Signed tokens for links crm puts in email (double opt-in, click
 *	  tracking): HMAC-SHA256 by a server secret only the extension's owner
 *	  can read (token.c).
 *-------------------------------------------------------------------------
 */
#ifndef CRM_MARKETING_TOKEN_H
#define CRM_MARKETING_TOKEN_H

#include "utils/timestamp.h"

/*
 * A URL-safe token carrying subject, valid for purpose until expires_at.
 * The caller must run with the privileges of the extension's owner (a
 * SECURITY DEFINER function), which alone may read the secret.
 */
extern char *crm_sign_token(const char *purpose, const char *subject, TimestampTz expires_at);

/*
 * The subject of a token signed for purpose; raises 22023 when the token is
 * malformed, forged, signed for another purpose, or expired.  Same
 * privileges as crm_sign_token.
 */
extern char *crm_verify_token(const char *purpose, const char *token);

#endif							/* CRM_MARKETING_TOKEN_H */
