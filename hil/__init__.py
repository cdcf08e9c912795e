"""alpr-hil: scripted drives with faults against the whole unit, judged from outside (see hil/README.md)."""
