"""`runner report`: a journal read back, as text, JSON or an HTML timeline."""
