-- A reservation nobody confirmed before its deadline expires: it holds nothing, but a late commit of a
-- paid order may still take its units if they are on the shelf. A release makes it final.
alter table reservations drop constraint reservations_status_check;
alter table reservations add constraint reservations_status_check
  check (status in ('reserved', 'committed', 'expired', 'released', 'returned'));
