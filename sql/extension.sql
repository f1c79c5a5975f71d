-- The extension installs, lives in schema raydar, and reports its build.
CREATE EXTENSION raydar;
SELECT extname, extversion, extrelocatable, nspname
  FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
 WHERE extname = 'raydar';
SELECT extension_version, protobuf_c_version ~ '^\d+\.\d+' AS has_protobuf_c,
       oldest_ray_version
  FROM raydar.build_info();
-- Loaded through shared_preload_libraries in this instance.
SELECT current_setting('shared_preload_libraries') AS preloaded;
-- Not relocatable: the schema is fixed.
ALTER EXTENSION raydar SET SCHEMA public;
