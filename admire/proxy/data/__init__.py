"""Text domains as token streams: sources (built-in and user files), tokenizers, the build
pipeline and the memory-mapped token store. ``admire.proxy.corpora`` assembles them."""
