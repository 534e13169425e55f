-- The saga commits the stock after the charge and confirms only once it is committed.
alter table orders drop constraint orders_step_check;
alter table orders add constraint orders_step_check
  check (step in ('reserve_stock', 'reserve_coupon', 'charge', 'commit_stock'));
