"""Station time series (long format), wind, graphs and the series methods (SPIN, IGNNK,
per-hour IDW and kriging) behind airmap:spin, airmap:ignnk and airmap:crossvalidateseries."""
