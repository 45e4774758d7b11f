"""OFD documents (GB/T 33190-2016): safe reading, the document model, sealing per §18 with
GB/T 38540 seals, and verification.  The PDF code beside it knows nothing of OFD."""
