-- The product's status in the catalog, as its last `catalog.product.created` or `.updated` said:
-- drafts and archived products are unknown to the public, so public availability does not show
-- them. Null: the catalog has not said (a row an admin set up, or one older than this column), and
-- such a product is shown as before.
alter table stock add column catalog_status text
  check (catalog_status in ('draft', 'active', 'archived'));
-- When the catalog made that change: an older event arriving late (a retry) changes nothing.
alter table stock add column catalog_status_at timestamptz;
