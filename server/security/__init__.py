"""Everything that decides who may do what: passwords, sessions, CSRF, headers, audit."""
