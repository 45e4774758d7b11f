"""eseal: api."""
