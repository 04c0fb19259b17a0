"""Implementation details of vaccine_cert; nothing here is public."""
