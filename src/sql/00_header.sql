/* raydar--<version>.sql: objects of the current raydar version (default_version in raydar.control), built from the files in src/sql, in name order. */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION raydar" to load this file. \quit

COMMENT ON SCHEMA raydar IS 'raydar: Ray cluster observability in SQL';
