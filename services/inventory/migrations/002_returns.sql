-- A confirmed order cancelled before it ships gives its committed units back to the shelf.
alter table reservations drop constraint reservations_status_check;
alter table reservations add constraint reservations_status_check
  check (status in ('reserved', 'committed', 'released', 'returned'));
