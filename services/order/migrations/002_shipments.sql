-- The tracking code of the order's shipment, once the cargo service has created it.
alter table orders add column tracking_code text;
