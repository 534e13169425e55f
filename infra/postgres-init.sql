-- One database per service on the shared PostgreSQL server (see compose.yaml), named as
-- `deno task start` names them on POSTGRES_URL: multishop_<service>.
-- The postgres image runs this once, when its data volume is empty; each service creates its own tables.
CREATE DATABASE multishop_identity;
CREATE DATABASE multishop_discount;
CREATE DATABASE multishop_inventory;
CREATE DATABASE multishop_order;
CREATE DATABASE multishop_payment;
CREATE DATABASE multishop_cargo;
CREATE DATABASE multishop_comment;
CREATE DATABASE multishop_message;
