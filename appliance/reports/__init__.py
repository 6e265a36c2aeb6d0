"""Reports room: daily statistics, the site overview, nightly jobs, exports and backups."""
