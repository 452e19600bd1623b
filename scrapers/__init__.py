"""Sources of candidate originals (Flickr, Wikimedia Commons, review sites, local folders) and
the downloader: all of camid's network I/O lives here. Builds on ``pipeline`` only."""
