"""HTTP API and command line: app factory, routers, schemas, error mapping."""
