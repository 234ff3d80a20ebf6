-- Run once by the postgres image on a fresh volume (docker-entrypoint-initdb.d).
-- The admin subgraph connects as this role; the audit log belongs to the owner
-- role (ADMIN_DATABASE_OWNER_URL), which grants it SELECT and INSERT only.
CREATE ROLE fittrack_admin_app LOGIN PASSWORD 'fittrack_admin_app';
