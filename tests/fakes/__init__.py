"""Loopback servers that speak the shapes of Flickr, Wikimedia Commons, review sites and plain
image hosts (from ../shared/reference/sources.md), with injectable faults, for camid's tests."""
