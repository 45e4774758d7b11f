"""eseal: keystore."""
