"""The control plane's routers: the JSON API, the HTML pages and the output files."""
