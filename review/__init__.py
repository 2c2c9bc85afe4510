"""What a reviewer approves: the reports and independent scans of a stack, evaluated offline."""
