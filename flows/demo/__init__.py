"""The offline demo: a generated camera world, a loopback Commons server, the whole pipeline."""
