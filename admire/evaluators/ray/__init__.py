"""Ray: connect to a cluster and train proxies on actors."""
