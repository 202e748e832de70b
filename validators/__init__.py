"""Agreement, explanation quality and the corpus gates that must pass before export."""
