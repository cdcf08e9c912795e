"""`alpr-unit-tech`: what a fleet technician runs to provision, flash, check, diagnose and retire units.

Separate from `alpr-unit` (the unit's own commands) because most of it runs on the technician's PC,
not on the unit; the on-unit parts call the same domain functions as the daemon.
"""
