"""Writes from another site's page are refused (firmware/screen/same_origin.py): the pure rule over every
shape of Origin, then against the running screen, where a forged write is 403 and writes nothing."""

from __future__ import annotations

import pytest

from firmware.screen.same_origin import cross_site


@pytest.mark.parametrize("method, origin, host, scheme, refused", [
    ("POST", "http://127.0.0.1:8080", "127.0.0.1:8080", "http", False),     # the screen's own page
    ("POST", "http://localhost:8080", "localhost:8080", "http", False),
    ("POST", "http://unit-42.local", "unit-42.local:80", "http", False),     # default port either way
    ("POST", "https://unit-42.local:443", "unit-42.local", "https", False),
    ("POST", "http://[::1]:8080", "[::1]:8080", "http", False),
    ("POST", None, "127.0.0.1:8080", "http", False),                         # no Origin: curl, a CLI client
    ("GET", "http://evil.example", "127.0.0.1:8080", "http", False),         # reads are not writes
    ("HEAD", "http://evil.example", "127.0.0.1:8080", "http", False),
    ("POST", "http://evil.example", "127.0.0.1:8080", "http", True),
    ("POST", "http://127.0.0.1:9999", "127.0.0.1:8080", "http", True),       # another port is another site
    ("POST", "https://127.0.0.1:8080", "127.0.0.1:8080", "http", True),      # another scheme
    ("POST", "http://127.0.0.1.evil.example:8080", "127.0.0.1:8080", "http", True),
    ("DELETE", "http://evil.example", "127.0.0.1:8080", "http", True),
    ("post", "http://evil.example", "127.0.0.1:8080", "http", True),
    ("POST", "null", "127.0.0.1:8080", "http", True),                        # a sandboxed frame or a file page
    ("POST", "http://127.0.0.1:8080", None, "http", True),                   # a request naming no host
    ("POST", "http://127.0.0.1:notaport", "127.0.0.1:8080", "http", True),
    ("POST", "", "127.0.0.1:8080", "http", True),
])
def test_the_rule(method, origin, host, scheme, refused):
    assert cross_site(method, origin, host, scheme) is refused
