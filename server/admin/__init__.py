"""The clinic admin's work: accounts, care teams and the audit trail."""
