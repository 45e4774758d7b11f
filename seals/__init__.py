"""eseal: seals."""
