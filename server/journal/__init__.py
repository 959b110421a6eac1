"""The patient's side: home, help (entries grow here)."""
