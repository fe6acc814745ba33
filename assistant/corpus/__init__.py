"""The corpus shipped in the repository's corpus/ folder: what a first start indexes (`default`), and its refresh."""
