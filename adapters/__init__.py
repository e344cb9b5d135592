"""Everything that touches the outside: settings, persistence, key and data stores."""
