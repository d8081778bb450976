"""The completion report of a work order: its PDF and the e-mail to the customer's admins."""
