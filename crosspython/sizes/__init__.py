"""What the install costs in bytes: lief measurements, reports and the regression gate."""
