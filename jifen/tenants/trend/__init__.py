"""The household's own trend on its points home (issue 13): points by month and rank over time."""
