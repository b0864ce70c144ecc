"""Rule-based segments: conditions compiled to SQL, evaluated in Python, memberships kept."""
