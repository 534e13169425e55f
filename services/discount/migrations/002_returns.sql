-- A confirmed order cancelled before it ships gives its coupon use back.
alter table redemptions drop constraint redemptions_status_check;
alter table redemptions add constraint redemptions_status_check
  check (status in ('reserved', 'committed', 'released', 'rejected', 'returned'));
