/* raydar--0.1--0.2.sql: from raydar 0.1 to 0.2, built from the files in src/updates/0.1--0.2, in name order. */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION raydar UPDATE TO '0.2'" to load this file. \quit
