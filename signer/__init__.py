"""eseal: signer."""
