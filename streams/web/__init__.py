"""The web server's routes: health, metrics, the HTTP and xAPI gateways and read queries."""
