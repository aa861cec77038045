"""Host names and addresses as the viewer compares them (no web framework imported: the CLI uses these)."""

from __future__ import annotations

import ipaddress
import re
import socket


def canonical_host(host: str) -> str:
    """The address `host` names in the form a browser sends it: IP literals canonical (`127.1` is
    `127.0.0.1`), names lower case without a trailing dot."""
    name = host.strip().strip("[]").lower().rstrip(".")
    try:
        return str(ipaddress.ip_address(name))
    except ValueError:
        pass
    try:   # the shorthand IPv4 forms getaddrinfo and browsers accept (127.1, 0x7f.0.0.1, 2130706433)
        if re.fullmatch(r"[0-9a-fx.]+", name):
            return socket.inet_ntoa(socket.inet_aton(name))
    except OSError:
        pass
    return name


def is_loopback(host: str) -> bool:
    name = canonical_host(host)
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def header_host(value: str) -> str:
    """The host a Host header names (port taken off), canonical."""
    value = value.strip()
    if value.startswith("["):                      # [::1]:8000
        return canonical_host(value[1:value.find("]")] if "]" in value else value)
    if value.count(":") == 1:                      # 127.0.0.1:8000, localhost:8000
        value = value.rsplit(":", 1)[0]
    return canonical_host(value)
