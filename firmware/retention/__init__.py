"""Retention, preservation and audit: keep only what the law allows, and prove it.

policy (the pure keep/purge rule) -> purge (applies it in small writer jobs) -> service (the daemon's
schedule); holds (Data Retention Request Log); audit (hash chain, verify); query (purpose control);
maintenance (life-of-unit log); report (administrator's periodic report); cli; bench.
"""
