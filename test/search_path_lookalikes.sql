-- test/search_path_lookalikes.sql: look-alikes a login with CREATE on the
-- database can put ahead of pg_catalog in its search_path, for
-- sql/integrity.sql and test/t/010_search_path.pl: an = that is never true
-- (the 0.1.0 crash), a < that always is, a count that counts nothing, a
-- lower and a now that lie.  Run from the top of the tree.
CREATE SCHEMA shadow;
GRANT USAGE ON SCHEMA shadow TO PUBLIC;
CREATE FUNCTION shadow.never(bigint, bigint) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT false';
CREATE OPERATOR shadow.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = shadow.never);
CREATE FUNCTION shadow.never(text, text) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT false';
CREATE OPERATOR shadow.= (LEFTARG = text, RIGHTARG = text, FUNCTION = shadow.never);
CREATE FUNCTION shadow.always(bigint, bigint) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT true';
CREATE OPERATOR shadow.< (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = shadow.always);
CREATE FUNCTION shadow.always(timestamptz, timestamptz) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT true';
CREATE OPERATOR shadow.< (LEFTARG = timestamptz, RIGHTARG = timestamptz, FUNCTION = shadow.always);
CREATE FUNCTION shadow.nothing(bigint) RETURNS bigint LANGUAGE sql IMMUTABLE AS 'SELECT 0::bigint';
CREATE AGGREGATE shadow.count(*) (SFUNC = shadow.nothing, STYPE = bigint, INITCOND = '0');
CREATE FUNCTION shadow.lower(text) RETURNS text LANGUAGE sql IMMUTABLE AS 'SELECT ''shadow''';
CREATE FUNCTION shadow.now() RETURNS timestamptz LANGUAGE sql STABLE AS 'SELECT ''2000-01-01 00:00+00''::timestamptz';
